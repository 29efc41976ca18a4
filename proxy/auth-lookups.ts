// Lookups of stored passwords with the auth query, one at a time on the one connection the proxy keeps as the auth
// role (as PgBouncer runs its auth_query): a login under a new name costs the upstream one query, not a backend and a
// login of its own. The line is bounded: beyond it a login is refused as PostgreSQL refuses a client when it is full.

import type { Logger } from 'pino';
import { AuthConnection, type AuthRole } from './auth-query.js';
import { PasswordKeys } from './auth-role-login.js';
import { PgError, SqlState } from './pg-error.js';
import type { ProxyStats } from './stats.js';
import type { UpstreamTarget } from './upstream.js';

/** Lookups that may wait for the connection: at about a round trip each, a fraction of a second in all. */
const MAX_WAITING = 100;

interface Waiting {
  user: string;
  resolve(stored: string | undefined): void;
  reject(error: PgError): void;
  retried?: boolean;
}

export class AuthLookups {
  private connection: AuthConnection | undefined;
  private readonly waiting: Waiting[] = [];
  private working = false;
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

  /** The stored password the auth query returns for `user`, if any. Rejects with the error the client is to get. */
  storedPassword(user: string): Promise<string | undefined> {
    if (this.waiting.length >= this.maxWaiting) return Promise.reject(tooManyClients());
    return new Promise((resolve, reject) => {
      this.waiting.push({ user, resolve, reject });
      void this.work();
    });
  }

  /** Ends the connection, once no session is left to ask for a lookup. */
  close(): void {
    this.closed = true;
    this.connection?.close();
  }

  private async work(): Promise<void> {
    if (this.working) return;
    this.working = true;
    while (this.waiting.length > 0) {
      let connection: AuthConnection;
      try {
        connection = await this.open();
      } catch (error) {
        // Everyone waiting shares the one failed attempt; the next lookup tries anew.
        const failure = this.forClient(error);
        for (const { reject } of this.waiting.splice(0)) reject(failure);
        break;
      }
      const next = this.waiting.shift()!;
      this.stats.authLookups++;
      try {
        next.resolve(await connection.storedPassword(next.user));
      } catch (error) {
        // The server may have ended a connection that had served (a restart, pg_terminate_backend,
        // idle_session_timeout) just as it was asked: the lookup is tried once more, on a new one.
        if (connection.served && !next.retried) this.waiting.unshift({ ...next, retried: true });
        else next.reject(this.forClient(error));
      }
    }
    this.working = false;
  }

  private async open(): Promise<AuthConnection> {
    if (this.connection?.usable) return this.connection;
    this.connection = await AuthConnection.open(this.target, this.role, this.keys);
    if (this.closed) this.connection.close();
    return this.connection;
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

/** PostgreSQL's words when it is full; its own for the auth role ("too many connections for role …") name that role. */
function tooManyClients(): PgError {
  return new PgError(SqlState.TooManyConnections, 'sorry, too many clients already', { severity: 'FATAL' });
}
