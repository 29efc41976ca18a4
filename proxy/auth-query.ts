// A connection the proxy keeps as the auth role, in the auth database, to run the auth query on: one role name at
// a time. What the query returns in the last column of its row is the role's stored password; no row, or NULL,
// means it has none.

import type net from 'node:net';
import { readDataRow } from './backend-read.js';
import { bind, execute, parse, startupMessage, sync, terminate } from './frontend-write.js';
import { logIn, upstreamError, type BackendKey, type PasswordKeys } from './auth-role-login.js';
import { MessageReader } from './message-reader.js';
import { BackendMessage } from './protocol.js';
import { cancelBackend, connectUpstream, type UpstreamTarget } from './upstream.js';

export interface AuthRole {
  user: string;
  /** Not needed when the upstream trusts the auth role. */
  password?: string;
  database: string;
  /** Takes the role name as $1. */
  query: string;
}

/** A request on the connection had no answer within the connect timeout: asking again would only wait as long. */
export class AuthQueryTimeout extends Error {}

export class AuthConnection {
  private answered = false;
  private dropped = false;
  private backendKey: BackendKey | undefined;

  private constructor(
    private readonly socket: net.Socket,
    private readonly messages: MessageReader,
    private readonly role: AuthRole,
    private readonly target: UpstreamTarget,
  ) {}

  /** Connects and logs in as the auth role. Rejects with the upstream's error (and SQLSTATE) when it refuses. */
  static async open(target: UpstreamTarget, role: AuthRole, keys: PasswordKeys): Promise<AuthConnection> {
    const socket = await connectUpstream(target);
    const connection = new AuthConnection(socket, new MessageReader(socket), role, target);
    connection.backendKey = await connection.exchange(() => {
      socket.write(startupMessage({ user: role.user, database: role.database, application_name: 'pg_llm_proxy auth query' }));
      return logIn(socket, connection.messages, role, keys);
    });
    return connection;
  }

  /** True once a lookup on it has been answered. */
  get served(): boolean {
    return this.answered;
  }

  /** False once the server has ended the connection, or an exchange on it failed. */
  get usable(): boolean {
    return !this.dropped && !this.socket.destroyed && this.socket.readable;
  }

  /** The stored password the auth query returns for `user`, if any. */
  storedPassword(user: string): Promise<string | undefined> {
    return this.exchange(async () => {
      this.socket.write(Buffer.concat([parse('', this.role.query), bind('', '', [user]), execute(''), sync()]));
      let stored: string | undefined;
      for (;;) {
        const frame = await this.messages.next();
        if (frame[0] === BackendMessage.ErrorResponse) throw upstreamError(frame);
        if (frame[0] === BackendMessage.ReadyForQuery) {
          this.answered = true;
          return stored;
        }
        if (frame[0] !== BackendMessage.DataRow) continue;
        if (stored !== undefined) throw new Error('the auth query returned more than one row');
        stored = readDataRow(frame).at(-1)?.toString('utf8') ?? '';
      }
    });
  }

  close(): void {
    if (!this.socket.destroyed) this.socket.end(terminate(), () => this.socket.destroy());
  }

  /**
   * One request and its answers; one that fails, or has no answer within the connect timeout, ends the connection.
   * A backend that does not answer (a slow auth query) is cancelled first: left running, such backends would pile
   * up against the auth role's connection limit, and then no SCRAM login would get through.
   */
  private async exchange<T>(run: () => Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new AuthQueryTimeout(`no answer within ${this.target.connectTimeoutMs} ms`)), this.target.connectTimeoutMs);
    });
    try {
      return await Promise.race([run(), timeout]);
    } catch (error) {
      this.drop(error instanceof AuthQueryTimeout ? this.backendKey : undefined);
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }

  private drop(cancelling: BackendKey | undefined): void {
    this.dropped = true;
    if (!cancelling) {
      this.socket.destroy();
      return;
    }
    cancelBackend(this.target, cancelling.processId, cancelling.secret)
      .catch(() => {}) // the connection goes all the same, and the server ends the backend at its next read or write
      .finally(() => this.socket.destroy());
  }
}
