// One client connection and its upstream connection, from the relayed authentication to the end. After
// authentication bytes flow through untouched in both directions; the session only frames them to know where
// messages start, which replies are still owed and what the transaction status is.

import type net from 'node:net';
import type { Logger } from 'pino';
import { authenticationSASL, backendKeyData, errorResponse } from './backend-write.js';
import { readAuthenticationCode, readBackendKeyData, readErrorFields, readSaslMechanisms, readTransactionStatus } from './backend-read.js';
import type { CancelKeys } from './cancel-keys.js';
import { MessageFramer } from './framer.js';
import { cancelRequest, terminate } from './frontend-write.js';
import { PgError, SqlState } from './pg-error.js';
import { AuthRequest, BackendMessage, FrontendMessage, type TransactionStatus } from './protocol.js';
import { RepliesOwed } from './replies-owed.js';
import type { ProxyStats } from './stats.js';
import { connectUpstream, type UpstreamTarget } from './upstream.js';

/** TLS ends at the proxy, so channel binding to the client's TLS connection cannot reach the upstream. */
const CHANNEL_BINDING_SUFFIX = '-PLUS';

/** How long a closing client gets to take the proxy's last message before its socket is destroyed. */
const CLOSE_GRACE_MS = 2000;

export interface SessionContext {
  target: UpstreamTarget;
  cancelKeys: CancelKeys;
  stats: ProxyStats;
  maxMessageSize: number;
}

type Phase = 'connecting' | 'authenticating' | 'ready' | 'closed';

export class Session {
  private phase: Phase = 'connecting';
  private upstream: net.Socket | undefined;
  private upstreamKey: { processId: number; secret: Buffer } | undefined;
  private processId: number | undefined;
  private readonly replies = new RepliesOwed();
  private status: TransactionStatus = 'I';
  /** While true, upstream messages are relayed one frame at a time (authentication); afterwards, whole chunks. */
  private relayFrames = true;
  private shuttingDown = false;
  private clientTerminated = false;
  private readonly clientFramer: MessageFramer;
  private readonly upstreamFramer: MessageFramer;
  private readonly closedCallbacks: Array<() => void> = [];

  constructor(
    private readonly client: net.Socket,
    private readonly context: SessionContext,
    private readonly log: Logger,
  ) {
    this.clientFramer = new MessageFramer(() => false, context.maxMessageSize);
    this.upstreamFramer = new MessageFramer(
      (type) => this.relayFrames || type === BackendMessage.ReadyForQuery,
      Number.MAX_SAFE_INTEGER,
    );
  }

  onClosed(callback: () => void): void {
    this.closedCallbacks.push(callback);
  }

  /** Connects upstream, relays the StartupMessage and then whatever the client sent after it. */
  async start(startupPacket: Buffer, leftover: Buffer): Promise<void> {
    const { client } = this;
    client.setNoDelay(true);
    client.on('error', (error) => this.log.debug({ err: error }, 'client socket error'));
    client.on('close', this.onClientClose);
    try {
      this.upstream = await connectUpstream(this.context.target);
    } catch (error) {
      this.fail(error);
      return;
    }
    if (this.phase === 'closed') {
      this.upstream.destroy();
      return;
    }
    const upstream = this.upstream;
    this.phase = 'authenticating';
    upstream.on('data', this.onUpstreamData);
    upstream.on('drain', () => client.resume());
    upstream.on('error', (error) => this.log.debug({ err: error }, 'upstream socket error'));
    upstream.on('close', this.onUpstreamClose);
    upstream.resume();
    client.on('data', this.onClientData);
    client.on('drain', () => upstream.resume());
    upstream.write(startupPacket);
    if (leftover.length > 0) this.onClientData(leftover);
    client.resume();
  }

  /** Sends a CancelRequest for this session's upstream backend. */
  cancel(): void {
    const key = this.upstreamKey;
    if (!key) return;
    this.context.stats.cancelRequests++;
    connectUpstream(this.context.target).then(
      (socket) => {
        socket.on('error', () => socket.destroy());
        socket.end(cancelRequest(key.processId, key.secret));
      },
      (error: unknown) => this.log.warn({ err: error }, 'could not forward cancel request'),
    );
  }

  /** Ends the session once no reply is owed: right now if it is idle, otherwise after its ReadyForQuery. */
  shutdown(): void {
    this.shuttingDown = true;
    if (this.phase === 'ready' && this.replies.idle) this.terminate();
  }

  /** Ends the session now, telling the client why if the stream lets a message in. */
  terminate(): void {
    this.fail(
      new PgError(SqlState.AdminShutdown, 'terminating connection due to administrator command', {
        severity: 'FATAL',
        hint: 'The proxy is shutting down.',
      }),
    );
  }

  /** The transaction status of the last ReadyForQuery: idle, in a transaction block, or in a failed one. */
  get transactionStatus(): TransactionStatus {
    return this.status;
  }

  get busy(): boolean {
    return this.phase !== 'ready' || !this.replies.idle;
  }

  private readonly onClientData = (chunk: Buffer): void => {
    const upstream = this.upstream!;
    this.context.stats.bytesFromClients += chunk.length;
    try {
      this.clientFramer.push(chunk, this.trackClientMessage);
    } catch (error) {
      this.fail(error);
      return;
    }
    if (!upstream.write(chunk)) this.client.pause();
  };

  private readonly trackClientMessage = (type: number): void => {
    this.replies.sent(type);
    if (type === FrontendMessage.Query || type === FrontendMessage.Execute) this.context.stats.queriesForwarded++;
    else if (type === FrontendMessage.Terminate) this.clientTerminated = true;
  };

  private readonly onUpstreamData = (chunk: Buffer): void => {
    if (this.relayFrames && this.phase === 'ready' && this.upstreamFramer.atBoundary) this.relayFrames = false;
    try {
      if (this.relayFrames) {
        this.upstreamFramer.push(chunk, this.relayAuthenticationMessage);
      } else {
        this.upstreamFramer.push(chunk, this.trackUpstreamMessage);
        this.writeToClient(chunk);
      }
    } catch (error) {
      this.fail(error);
      return;
    }
    if (this.shuttingDown && this.phase === 'ready' && this.replies.idle && this.upstreamFramer.atBoundary) this.terminate();
  };

  private readonly trackUpstreamMessage = (type: number, frame: Buffer | undefined): void => {
    if (type === BackendMessage.ReadyForQuery) {
      this.replies.readyForQuery();
      this.status = readTransactionStatus(frame!);
    } else if (type === BackendMessage.ErrorResponse) {
      this.context.stats.upstreamErrors++;
    }
  };

  /** Upstream messages up to the first ReadyForQuery: rewritten where the proxy stands in between. */
  private readonly relayAuthenticationMessage = (type: number, frame: Buffer | undefined): void => {
    switch (type) {
      case BackendMessage.Authentication:
        this.writeToClient(readAuthenticationCode(frame!) === AuthRequest.SASL ? this.withoutChannelBinding(frame!) : frame!);
        return;
      case BackendMessage.BackendKeyData: {
        this.upstreamKey = readBackendKeyData(frame!);
        const own = this.context.cancelKeys.issue(this, this.upstreamKey.secret.length);
        this.processId = own.processId;
        this.writeToClient(backendKeyData(own.processId, own.secret));
        return;
      }
      case BackendMessage.ErrorResponse: {
        this.context.stats.upstreamErrors++;
        const fields = readErrorFields(frame!);
        this.log.info({ sqlstate: fields.get('C'), message: fields.get('M') }, 'upstream refused the session');
        break;
      }
      case BackendMessage.ReadyForQuery:
        this.phase = 'ready';
        this.status = readTransactionStatus(frame!);
        this.log.debug('session ready');
        break;
    }
    this.writeToClient(frame!);
  };

  private withoutChannelBinding(frame: Buffer): Buffer {
    const mechanisms = readSaslMechanisms(frame).filter((name) => !name.endsWith(CHANNEL_BINDING_SUFFIX));
    if (mechanisms.length === 0) {
      throw new PgError('28000', 'the upstream server offers only SASL mechanisms with channel binding', {
        severity: 'FATAL',
        hint: 'TLS ends at the proxy, so channel binding cannot reach the upstream; allow SCRAM-SHA-256 without -PLUS.',
      });
    }
    return authenticationSASL(mechanisms);
  }

  private writeToClient(data: Buffer): void {
    this.context.stats.bytesToClients += data.length;
    if (!this.client.write(data)) this.upstream?.pause();
  }

  private readonly onClientClose = (): void => {
    const upstream = this.upstream;
    if (upstream && !upstream.destroyed) {
      // A clean Terminate lets the upstream backend end quietly; mid-message, the stream can only be cut.
      if (this.clientTerminated || !this.clientFramer.atBoundary) upstream.destroy();
      else upstream.end(terminate());
    }
    this.close();
  };

  private readonly onUpstreamClose = (): void => {
    if (this.phase !== 'closed' && !this.clientTerminated && !this.client.destroyed) {
      this.fail(
        new PgError(SqlState.ConnectionFailure, 'the upstream server closed the connection unexpectedly', {
          severity: 'FATAL',
          hint: 'The server may have been restarted or the backend terminated; reconnect to start a new session.',
        }),
      );
    }
    this.close();
  };

  /** Reports an error to the client where the stream allows it, then closes both sides. */
  private fail(error: unknown): void {
    if (this.phase === 'closed') return;
    const pgError =
      error instanceof PgError
        ? error
        : new PgError(SqlState.ConnectionFailure, `proxy error: ${(error as Error).message}`, { severity: 'FATAL' });
    if (!(error instanceof PgError) || error.sqlstate !== SqlState.AdminShutdown) {
      this.context.stats.proxyErrors++;
      this.log.warn({ sqlstate: pgError.sqlstate, err: pgError.message }, 'closing session');
    }
    this.closeClient(this.upstreamFramer.atBoundary ? errorResponse(pgError) : undefined);
    const upstream = this.upstream;
    if (upstream && !upstream.destroyed) {
      if (this.phase === 'ready' && this.clientFramer.atBoundary) upstream.end(terminate());
      else upstream.destroy();
    }
    this.close();
  }

  /**
   * Sends the last message and closes. A client that stopped reading would keep a gracefully ended socket open
   * for ever, so the socket is destroyed once the message is out, or after a grace period regardless.
   */
  private closeClient(lastMessage: Buffer | undefined): void {
    const { client } = this;
    if (client.destroyed) return;
    if (!lastMessage) {
      client.destroy();
      return;
    }
    const grace = setTimeout(() => client.destroy(), CLOSE_GRACE_MS);
    grace.unref();
    client.end(lastMessage, () => {
      clearTimeout(grace);
      client.destroy();
    });
  }

  private close(): void {
    if (this.phase === 'closed') return;
    this.phase = 'closed';
    if (this.processId !== undefined) this.context.cancelKeys.release(this.processId);
    for (const callback of this.closedCallbacks) callback();
  }
}
