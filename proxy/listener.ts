// The proxy's listening sockets, TCP and optionally a Unix-domain one: accepts clients from both alike, runs their
// startup, starts sessions, answers cancels, and on shutdown lets running queries finish before it closes what is left.

import { chmodSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import type { Logger } from 'pino';
import { AuthLookups } from './auth-lookups.js';
import { errorResponse } from './backend-write.js';
import { closeSocket } from './close-socket.js';
import type { AuthRole } from './auth-query.js';
import { CancelKeys } from './cancel-keys.js';
import type { InterceptorFactory } from './interceptor.js';
import { listenError } from './listen-error.js';
import { ownPort } from './own-ports.js';
import { tooManyClients, type PgError } from './pg-error.js';
import { ScramSecrets } from './scram-secrets.js';
import type { StatementHead } from './last-statement.js';
import { Session, type SessionActivity } from './session.js';
import { readClientHello } from './startup.js';
import { ProxyStats } from './stats.js';
import { StartingConnections } from './starting-connections.js';
import { claimSocketPath, type ClaimedSocketPath } from './unix-socket.js';
import type { UpstreamTarget } from './upstream.js';

export interface ListenerOptions {
  host: string;
  port: number;
  /** Also listen on DIR/.s.PGSQL.PORT (PORT the TCP port bound), as PostgreSQL's unix_socket_directories. */
  socketDir?: string;
  /**
   * The socket directory is only the default, not the operator's choice: a socket path that cannot be had there
   * (another user's server holds it, say) is warned about and the proxy serves on TCP alone. Otherwise such a path
   * stops the start.
   */
  socketDirOptional?: boolean;
  target: UpstreamTarget;
  /** PEM certificate and key; without them SSLRequest is answered 'N'. */
  tls?: { cert: string; key: string };
  maxMessageSize: number;
  startupTimeoutMs: number;
  /** Clients still to send their startup packet at once: each holds a socket, and more are refused (53300). */
  maxStartingConnections: number;
  log: Logger;
  /** Takes over the statements it claims (the LLM functions); without it the proxy only relays. */
  interceptors?: InterceptorFactory;
  /** Why a client's startup parameters are not to reach the server (the interception's secrets among them); the session is refused. */
  startupRefusal?: (parameters: ReadonlyMap<string, string>) => PgError | undefined;
  /** The role whose auth query gives the SCRAM secrets the proxy authenticates clients with; without it, relayed. */
  authRole?: AuthRole;
}

/** A session as the admin dashboard shows it: who, from where, since when, doing what. */
export interface SessionView {
  number: number;
  client: string;
  user: string;
  database: string;
  application: string | undefined;
  startedAt: number;
  activity: SessionActivity;
  statement: StatementHead | undefined;
}

type SessionLabels = Omit<SessionView, 'activity' | 'statement'>;

export class ProxyListener {
  readonly stats = new ProxyStats();
  private readonly server: net.Server;
  private readonly servers: net.Server[];
  private claimedSocketPath: ClaimedSocketPath | undefined;
  private readonly cancelKeys = new CancelKeys();
  private readonly sessions = new Map<Session, SessionLabels>();
  private readonly starting: StartingConnections;
  private readonly scramSecrets: ScramSecrets | undefined;
  private nextSessionNumber = 1;

  constructor(private readonly options: ListenerOptions) {
    this.starting = new StartingConnections(options.maxStartingConnections);
    this.scramSecrets = options.authRole ? new ScramSecrets(new AuthLookups(options.target, options.authRole, this.stats, options.log)) : undefined;
    this.server = this.createServer(options.tls ? tls.createSecureContext(options.tls) : undefined);
    this.servers = [this.server];
  }

  async listen(): Promise<net.AddressInfo> {
    await listenOn(this.server, { port: this.options.port, host: this.options.host });
    ownPort(this.server);
    const address = this.server.address() as net.AddressInfo;
    if (this.options.socketDir !== undefined) {
      try {
        await this.listenOnSocketDir(this.options.socketDir, address.port);
      } catch (error) {
        if (this.options.socketDirOptional) {
          this.options.log.warn({ err: (error as Error).message }, 'not listening on a Unix socket');
        } else {
          this.server.close();
          throw error;
        }
      }
    }
    return address;
  }

  /** The Unix-domain socket's path, while listening on one. */
  get unixSocketPath(): string | undefined {
    return this.claimedSocketPath?.path;
  }

  get target(): UpstreamTarget {
    return this.options.target;
  }

  /** The sessions open now, oldest first. */
  sessionViews(): SessionView[] {
    return [...this.sessions].map(([session, labels]) => ({ ...labels, activity: session.activity, statement: session.lastStatement }));
  }

  /**
   * Stops accepting, lets sessions finish the query they are running, and after `timeoutMs` ends the rest.
   * Idle sessions are ended at once (an open transaction block is rolled back by the upstream).
   */
  async shutdown(timeoutMs: number): Promise<void> {
    const closed = Promise.all(this.servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))));
    this.claimedSocketPath?.release();
    this.claimedSocketPath = undefined;
    this.starting.destroyAll();
    const sessions = [...this.sessions.keys()];
    this.options.log.info(
      {
        sessions: sessions.length,
        busy: sessions.filter((session) => session.busy).length,
        inTransaction: sessions.filter((session) => session.transactionStatus !== 'I').length,
      },
      'shutting down: waiting for running queries',
    );
    const endsAt = Date.now() + timeoutMs;
    for (const session of this.sessions.keys()) session.shutdown(endsAt);
    const deadline = setTimeout(() => {
      if (this.sessions.size > 0) this.options.log.warn({ sessions: this.sessions.size }, 'shutdown timeout: ending sessions');
      for (const session of this.sessions.keys()) session.terminate();
    }, timeoutMs);
    await closed;
    clearTimeout(deadline);
    this.scramSecrets?.close();
  }

  private createServer(secureContext: tls.SecureContext | undefined): net.Server {
    return net.createServer({ noDelay: true, pauseOnConnect: true }, (socket) => void this.accept(socket, secureContext));
  }

  private async listenOnSocketDir(dir: string, port: number): Promise<void> {
    // No TLS on a Unix socket, as PostgreSQL: SSLRequest is answered 'N' there.
    const server = this.createServer(undefined);
    const claimed = await claimSocketPath(dir, port);
    try {
      await listenOn(server, { path: claimed.path });
      // Any local user may connect, as to the TCP port: PostgreSQL's default unix_socket_permissions.
      chmodSync(claimed.path, 0o777);
    } catch (error) {
      server.close();
      claimed.release();
      throw error;
    }
    this.servers.push(server);
    this.claimedSocketPath = claimed;
  }

  private async accept(socket: net.Socket, secureContext: tls.SecureContext | undefined): Promise<void> {
    const { stats } = this;
    const { log } = this.options;
    if (!this.starting.admit(socket)) {
      // As PostgreSQL answers past max_connections, before reading what the client sent.
      stats.connectionsRejected++;
      closeSocket(socket, errorResponse(tooManyClients('Too many clients are still to send their startup packet: see --max-starting-connections.')));
      return;
    }
    socket.on('error', () => socket.destroy());
    let hello;
    try {
      hello = await readClientHello(socket, {
        secureContext,
        timeoutMs: this.options.startupTimeoutMs,
      });
    } catch (error) {
      stats.connectionsRejected++;
      log.debug({ err: error }, 'startup failed');
      return;
    } finally {
      this.starting.leave(socket);
    }
    if (hello.kind === 'CancelRequest') {
      this.cancelKeys.find(hello.processId, hello.secret)?.cancel();
      return;
    }
    const refused = this.options.startupRefusal?.(hello.parameters);
    if (refused) {
      stats.connectionsRejected++;
      closeSocket(hello.socket, errorResponse(refused));
      return;
    }
    const user = hello.parameters.get('user') ?? '';
    const labels: SessionLabels = {
      number: this.nextSessionNumber++,
      client: clientAddress(socket),
      user,
      database: hello.parameters.get('database') ?? user,
      application: hello.parameters.get('application_name'),
      startedAt: Date.now(),
    };
    const sessionLog = log.child({ session: labels.number, client: labels.client, user, database: labels.database });
    const startedAt = performance.now();
    const session = new Session(
      hello.socket,
      {
        target: this.options.target,
        cancelKeys: this.cancelKeys,
        stats,
        maxMessageSize: this.options.maxMessageSize,
        interceptors: this.options.interceptors,
        scramSecrets: this.scramSecrets,
      },
      sessionLog,
      hello.parameters,
    );
    this.sessions.set(session, labels);
    stats.connectionsOpen++;
    stats.connectionsTotal++;
    session.onClosed(() => {
      this.sessions.delete(session);
      stats.connectionsOpen--;
      sessionLog.info({ duration_ms: Math.round(performance.now() - startedAt) }, 'session ended');
    });
    sessionLog.info({ tls: hello.secure, application: hello.parameters.get('application_name') }, 'session started');
    await session.start(hello.packet, hello.leftover);
  }
}

/** Who connected: IP:port, or the Unix-domain socket, whose peers have no address. */
function clientAddress(socket: net.Socket): string {
  const { remoteAddress, remotePort } = socket;
  if (remoteAddress === undefined) return 'unix socket';
  return net.isIPv6(remoteAddress) ? `[${remoteAddress}]:${remotePort}` : `${remoteAddress}:${remotePort}`;
}

function listenOn(server: net.Server, where: net.ListenOptions): Promise<void> {
  return new Promise((resolve, reject) => {
    const fail = (error: Error): void => reject(listenError(error, where));
    server.once('error', fail);
    server.listen(where, () => {
      server.off('error', fail);
      resolve();
    });
  });
}
