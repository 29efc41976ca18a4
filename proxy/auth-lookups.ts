// Lookups of stored passwords with the auth query, on a few connections the proxy keeps as the auth role (as
// PgBouncer runs its auth_query): a login under a new name costs the upstream one query, not a backend and a login of
// its own. More than one connection, so that one slow lookup does not hold up the logins behind it. The line is
// bounded: beyond it a login is refused as PostgreSQL refuses a client when it is full.

import type { Logger } from 'pino';
import { AuthConnection, AuthQueryTimeout, type AuthRole } from './auth-query.js';
import { PasswordKeys } from './auth-role-login.js';
import { PgError, SqlState, tooManyClients } from './pg-error.js';
import type { ProxyStats } from './stats.js';
import type { UpstreamTarget } from './upstream.js';

/** Lookups under way or waiting for a connection: at about a round trip each, a fraction of a second in all. */
const MAX_WAITING = 100;
/** Connections opened as lookups wait, each a backend of the auth role's on the upstream. */
const MAX_CONNECTIONS = 4;

interface Waiting {
  user: string;
  resolve(stored: string | undefined): void;
  reject(error: PgError): void;
  retried?: boolean;
}

export class AuthLookups {
  private readonly idle: AuthConnection[] = [];
  /** Open and opening alike: both count against MAX_CONNECTIONS. */
  private readonly connections = new Set<AuthConnection | Promise<AuthConnection>>();
  private readonly waiting: Waiting[] = [];
  private underWay = 0;
  private closed = false;
  private readonly keys: PasswordKeys;

  constructor(
    private readonly target: UpstreamTarget,
    private readonly role: AuthRole,
    private readonly stats: ProxyStats,
    private readonly log: Logger,
    private readonly maxWaiting = MAX_WAITING,
  ) {
    this.keys = new PasswordKeys(role.password);
  }

  /**
   * The stored password the auth query returns for `user`, if any. Rejects with the error the client is to get.
   * Once `unwanted` aborts (every client waiting for the answer has left), a lookup still waiting is not run.
   */
  storedPassword(user: string, unwanted?: AbortSignal): Promise<string | undefined> {
    if (this.waiting.length + this.underWay >= this.maxWaiting) return Promise.reject(tooManyClients());
    return new Promise((resolve, reject) => {
      const lookup: Waiting = { user, resolve, reject };
      this.waiting.push(lookup);
      unwanted?.addEventListener('abort', () => this.withdraw(lookup), { once: true });
      this.dispatch();
    });
  }

  /** Ends the connections, once no session is left to ask for a lookup. */
  close(): void {
    this.closed = true;
    for (const connection of this.idle.splice(0)) connection.close();
  }

  /** A lookup under way runs to its end: its answer is kept for the next login under the name. */
  private withdraw(lookup: Waiting): void {
    const at = this.waiting.indexOf(lookup);
    if (at < 0) return;
    this.waiting.splice(at, 1);
    lookup.reject(new PgError(SqlState.ConnectionFailure, 'the client left before its role was looked up', { severity: 'FATAL' }));
  }

  /** Starts a lookup for each waiting one that an idle connection, or room for a new one, can take. */
  private dispatch(): void {
    while (this.waiting.length > 0) {
      const idle = this.idle.pop();
      if (idle && !idle.usable) {
        this.connections.delete(idle);
        continue;
      }
      if (!idle && this.connections.size >= MAX_CONNECTIONS) return;
      this.underWay++;
      void this.lookUp(this.waiting.shift()!, idle).finally(() => {
        this.underWay--;
        this.dispatch();
      });
    }
  }

  private async lookUp(next: Waiting, idle: AuthConnection | undefined): Promise<void> {
    let connection: AuthConnection;
    try {
      connection = idle ?? (await this.connect());
    } catch (error) {
      // Everyone waiting shares the one failed attempt; the next lookup tries anew.
      const failure = this.forClient(error);
      for (const { reject } of [next, ...this.waiting.splice(0)]) reject(failure);
      return;
    }
    this.stats.authLookups++;
    try {
      next.resolve(await connection.storedPassword(next.user));
    } catch (error) {
      // The server may have ended a connection that had served (a restart, pg_terminate_backend,
      // idle_session_timeout) just as it was asked: the lookup is tried once more, on a new one. Not after a
      // timeout: the query itself is slow, and would only be as slow again.
      if (connection.served && !next.retried && !(error instanceof AuthQueryTimeout)) {
        next.retried = true;
        // What ended this connection (a restart, a pg_terminate_backend of the auth role) most likely ended the
        // idle ones too: the retry goes to a new connection, not to another dead one.
        for (const stale of this.idle.splice(0)) {
          this.connections.delete(stale);
          stale.close();
        }
        this.waiting.unshift(next);
      } else {
        next.reject(this.forClient(error));
      }
    }
    this.release(connection);
  }

  private async connect(): Promise<AuthConnection> {
    const opening = AuthConnection.open(this.target, this.role, this.keys);
    this.connections.add(opening);
    try {
      const connection = await opening;
      this.connections.add(connection);
      return connection;
    } finally {
      this.connections.delete(opening);
    }
  }

  private release(connection: AuthConnection): void {
    if (this.closed || !connection.usable) {
      this.connections.delete(connection);
      connection.close();
    } else {
      this.idle.push(connection);
    }
  }

  /** The upstream's own error when it is out of room; any other failure is the proxy's configuration to check. */
  private forClient(error: unknown): PgError {
    this.log.warn({ err: (error as Error).message, authUser: this.role.user }, 'auth query failed');
    if (error instanceof PgError && error.sqlstate === SqlState.TooManyConnections) return tooManyClients();
    if (error instanceof PgError && (error.sqlstate.startsWith('53') || error.sqlstate === SqlState.CannotConnectNow)) return error;
    return new PgError(SqlState.ConnectionFailure, "the proxy could not look up the role's SCRAM secret", {
      severity: 'FATAL',
      hint: "Its auth query failed: see the proxy's log, and check --auth-user, --auth-password, --auth-database and --auth-query.",
    });
  }
}
