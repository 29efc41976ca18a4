// One client connection and its upstream connection, from the relayed authentication to the end. After
// authentication bytes flow through untouched in both directions; the session only frames them to know where
// messages start, which replies are still owed and what the transaction status is. When an interceptor claims a
// client message, the session mediates: client messages go to the interceptor whole, and upstream messages to
// the sink of the request they answer, until the interceptor releases it.

import type net from 'node:net';
import type { Logger } from 'pino';
import { readThrough } from './accepted-reads.js';
import { authenticationSASL, backendKeyData, errorResponse, relayedAsItComes } from './backend-write.js';
import {
  CutReportReader,
  ErrorFieldReader,
  readAuthenticationCode,
  readBackendKeyData,
  readErrorFields,
  readErrorField,
  readParameterStatusName,
  readSaslMechanisms,
  readTransactionStatus,
} from './backend-read.js';
import type { CancelKeys } from './cancel-keys.js';
import { BindReader } from './bind-reader.js';
import { CLOSE_GRACE_MS, closeSocket } from './close-socket.js';
import { clientEncodingRefusal } from './client-encoding.js';
import { ArrivingLook } from './arriving-look.js';
import { MessageFramer, PUT_OFF, type BodyReader } from './framer.js';
import { LastStatement, STATEMENT_HEAD_BYTES, type StatementHead } from './last-statement.js';
import { PacedWatch } from './paced-watch.js';
import { StatementRelay } from './statement-relay.js';
import { startupMessage, terminate } from './frontend-write.js';
import { PgError, SqlState } from './pg-error.js';
import { refusedInPlace } from './refused-in-place.js';
import type { BindAdmission, Interceptor, InterceptorFactory, SessionInterception, SessionIo } from './interceptor.js';
import { isReplicationConnection } from './replication-startup.js';
import { AuthRequest, BackendMessage, endsCopy, feedsCopy, FrontendMessage, frontendLengthLimit, isCopyMessage, MAX_AUTH_TOKEN_LENGTH, type TransactionStatus } from './protocol.js';
import { RepliesOwed, type ReplySink } from './replies-owed.js';
import { ScramBridge } from './scram-bridge.js';
import type { ScramSecrets } from './scram-secrets.js';
import { slabReads } from './slab-reads.js';
import type { ProxyStats } from './stats.js';
import { cancelBackend, connectUpstream, type UpstreamTarget } from './upstream.js';

/** When authentication is relayed, channel binding to the client's TLS connection cannot reach the upstream. */
const CHANNEL_BINDING_SUFFIX = '-PLUS';

/**
 * While the client is held, how often an empty write asks the kernel whether the client reset the connection: a
 * socket not being read is not polled, so a reset would otherwise go unseen until the hold ends.
 */
const HELD_CLIENT_PROBE_MS = 500;
const EMPTY = Buffer.alloc(0);
/**
 * Past this many requests owed an answer the client is not read until the server has answered all but
 * RESUME_AT_REPLIES_OWED: a client that pipelines without reading must not make the proxy keep one entry per message.
 * Drivers' pipelines (a JDBC batch, asyncpg's executemany) wait for the server at this depth, not for the client.
 */
const MAX_REPLIES_OWED = 4096;
/**
 * Above what the server may hold unsent while it waits for more to read (its 8 KiB output buffer of 5-byte answers
 * is 1638), so the client is read again even when the message that makes the server flush is still in its socket.
 */
const RESUME_AT_REPLIES_OWED = 2048;
/**
 * While mediating, a client message declared longer than this is not read until the interceptor is done with the ones
 * before it, and then goes as when relaying raw (as it comes, if it is big): the interceptor would hold it whole, up to
 * --max-message-size, for as long as a model call lasts. A quarter of what the interceptor queues (client-queue.ts).
 */
const MAX_MEDIATED_MESSAGE_LENGTH = 1024 * 1024;

/** What a session is doing, in pg_stat_activity's words (and "starting" until the upstream takes it). */
export type SessionActivity = 'starting' | 'idle' | 'active' | 'idle in transaction' | 'idle in transaction (aborted)';

export interface SessionContext {
  target: UpstreamTarget;
  cancelKeys: CancelKeys;
  stats: ProxyStats;
  maxMessageSize: number;
  interceptors?: InterceptorFactory;
  /** With an auth role configured: the proxy itself authenticates clients the upstream asks for SCRAM. */
  scramSecrets?: ScramSecrets;
}

type Phase = 'connecting' | 'authenticating' | 'ready' | 'closed';

export class Session {
  private phase: Phase = 'connecting';
  private upstream: net.Socket | undefined;
  private upstreamKey: { processId: number; secret: Buffer } | undefined;
  private readonly replies = new RepliesOwed();
  private status: TransactionStatus = 'I';
  /** While true, upstream messages are relayed one frame at a time (authentication); afterwards, whole chunks. */
  private relayFrames = true;
  private shuttingDown = false;
  /** When the proxy's shutdown ends: the session's last message must not keep it waiting beyond. */
  private shutdownDeadline = Infinity;
  /** Ended by the administrator (the shutdown timeout): a backend still running a request is cancelled, not left to run. */
  private cancelRunningRequest = false;
  /** Aborted when the session ends: a connection to the upstream still being made is given up. */
  private readonly ended = new AbortController();
  /** The client sent Terminate: as PostgreSQL does, the proxy reads nothing the client sends after it. */
  private terminateReceived = false;
  /** The client's Terminate went upstream: the backend ends the session itself. */
  private clientTerminated = false;
  private readonly clientFramer: MessageFramer;
  private readonly upstreamFramer: MessageFramer;
  private readonly closedCallbacks: Array<() => void> = [];
  private interceptor: Interceptor | undefined;
  /** Begun from the startup parameters, before they go to the server: it makes the interceptor once authenticated. */
  private readonly interception: SessionInterception | undefined;
  /** While the proxy runs a client's SCRAM login itself, the client's messages and the upstream's requests go to it. */
  private scramBridge: ScramBridge | undefined;
  /** Client messages go to the interceptor, upstream messages to the sinks of the requests they answer. */
  private mediating = false;
  /** Whether the upstream message being framed goes to a sink (decided when its first byte arrives). */
  private dispatchUpstreamMessage = false;
  /** The upstream sent a FATAL (or PANIC) error: it is ending the session and has told the client why. */
  private upstreamEndedSession = false;
  /** The kept client message being assembled, shown to the interceptor as it comes. */
  private arrivingLook: ArrivingLook | undefined;
  /**
   * A client message waits for the interceptor's judgement, and all the client sent after it with it: nothing of
   * that is read, whoever asks, until the judgement is in (review Q: the interceptor catching up read it, and a
   * statement was written upstream inside another).
   */
  private awaitingJudgement = false;
  /** The interceptor asked to stop reading from the client: an upstream drain must not resume it. */
  private clientHeld = false;
  /** The interceptor, while mediating, has done all it was handed and waits for the client's next messages. */
  private interceptorWaits = false;
  /** The interceptor, while mediating, has handed on all it was handed (it may wait for the server still). */
  private interceptorCaughtUp = false;
  /** Too many requests are owed an answer: the client is read again once the server has answered most. */
  private repliesBacklogged = false;
  private heldClientProbe: NodeJS.Timeout | undefined;
  /** One wait for the client's drain, however many wait for it. */
  private clientDrain: Promise<void> | undefined;
  /** The interceptor's messages of this run of microtasks are being gathered into one upstream write. */
  private upstreamCorked = false;
  /** Counts of ReadyForQuery messages, for the interceptor to tell which transactions have ended. */
  private readonly readies = { received: 0, lastIdle: 0 };
  /**
   * Whether the transaction block is failed now: the last ReadyForQuery said so, and no statement has completed
   * since. In a failed block only ROLLBACK, ROLLBACK TO, COMMIT and PREPARE TRANSACTION complete, and each leaves the
   * failure, which the next ReadyForQuery may be a pipeline away from telling.
   */
  private blockFailed = false;
  private readonly statement = new LastStatement();
  /** The client's chunk being framed, and where in it the bytes not yet forwarded (or held) start. */
  private clientChunk: Buffer = EMPTY;
  private runStart = 0;
  /** Where in the client's chunk being framed its Terminate ends, if it has one. */
  private terminateEnd: number | undefined;
  /** The upstream's chunk being framed, where in it the bytes not yet written to the client start, and whether a sink had any of it. */
  private upstreamChunk: Buffer = EMPTY;
  private upstreamRunStart = 0;
  private upstreamChunkLent = false;
  /** The Query or Parse being relayed as it comes, too big for the interceptor to hold. */
  private streamed: StatementRelay | undefined;
  /** The Bind being read as it comes, judged by the interceptor before its body is in. */
  private bindRead: BindReader | undefined;
  /** A COPY message (or FunctionCall) being relayed as it comes while mediating, too big for the interceptor to hold. */
  private messageRelayed = false;
  /** The interceptor's messages sent while a client message goes upstream as it comes: they go after it. */
  private readonly sentAfterRelay: Array<[Buffer | readonly Buffer[], ReplySink | undefined]> = [];
  /** The severity of the ErrorResponse being relayed, read as it comes. */
  private upstreamError: ErrorFieldReader | undefined;
  /**
   * The parameters the server reported (ParameterStatus) while answering the proxy's own requests, each with its latest
   * report, still to be sent to the client: ahead of whatever it is sent next. A collect pass's set_config, undone
   * by the rollback of its savepoint and done again by the final pass, would otherwise flip a driver's idea of the
   * setting (client_encoding, TimeZone…) to and fro.
   */
  private readonly statusesOwed = new Map<string, Buffer>();
  /** The last report of each parameter the client was sent since it logged in: an owed one like it is not sent. */
  private readonly statusesTold = new Map<string, Buffer>();
  /** The ErrorResponse or NoticeResponse being read for a sink, cut as it comes to what a sink may be handed. */
  private upstreamReport: CutReportReader | undefined;

  constructor(
    private readonly client: net.Socket,
    private readonly context: SessionContext,
    private readonly log: Logger,
    private readonly parameters: Map<string, string> = new Map(),
  ) {
    this.interception = context.interceptors?.(parameters);
    this.clientFramer = new MessageFramer(
      (type) => this.mediating || this.scramBridge !== undefined || (this.interceptor?.inspects(type) ?? false),
      context.maxMessageSize,
      (type, length, start) => this.clientReader(type, length, start),
      // As PostgreSQL does: the framer would hold such a message whole, up to --max-message-size, while mediating.
      frontendLengthLimit,
      (type, frame, filled) => this.lookAtArriving(type, frame, filled),
    );
    this.upstreamFramer = new MessageFramer(
      (type) => {
        this.dispatchUpstreamMessage = (this.mediating || this.replies.hasSinks) && !this.relayFrames;
        return this.relayFrames || this.dispatchUpstreamMessage || type === BackendMessage.ReadyForQuery || type === BackendMessage.ErrorResponse || type === BackendMessage.ParameterStatus;
      },
      Number.MAX_SAFE_INTEGER,
      (type, length) => this.upstreamReader(type, length),
    );
  }

  /**
   * Who reads an upstream message's body as it comes, in place of the framer holding it whole: a sink's reader of its
   * rows; for an ErrorResponse or NoticeResponse while mediating, the session, which hands on what it kept of it (the
   * client's messages and the proxy's own go to the client whole, so one from the server cannot go as it comes); and
   * for an ErrorResponse relayed as it comes the session itself, which needs only its severity.
   */
  private upstreamReader(type: number, length: number): BodyReader | undefined {
    if (this.dispatchUpstreamMessage) {
      // A row answering the client's own request (the rest of a suspended portal's rows) is the client's alone.
      if (type === BackendMessage.DataRow || type === BackendMessage.CopyData) {
        const sink = this.replies.current;
        if (!sink) return relayedAsItComes(type, length, (bytes) => this.writeToClient(bytes));
        return type === BackendMessage.DataRow ? sink.dataRowReader?.(length) : sink.copyDataReader?.(length);
      }
      const report = type === BackendMessage.ErrorResponse || type === BackendMessage.NoticeResponse;
      return report ? (this.upstreamReport = new CutReportReader(type)) : undefined;
    }
    if (this.relayFrames || type !== BackendMessage.ErrorResponse) return undefined;
    return (this.upstreamError = new ErrorFieldReader('V'));
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
    this.context.scramSecrets?.prefetch(this.user, this.ended.signal);
    try {
      this.upstream = await connectUpstream(this.context.target, this.ended.signal, this.onUpstreamData);
    } catch (error) {
      this.context.stats.upstreamConnectionFailures++;
      this.fail(error);
      return;
    }
    if (this.phase === 'closed') {
      this.upstream.destroy();
      return;
    }
    const upstream = this.upstream;
    this.phase = 'authenticating';
    upstream.on('drain', () => this.resumeClient());
    upstream.on('error', (error) => this.log.debug({ err: error }, 'upstream socket error'));
    upstream.on('close', this.onUpstreamClose);
    upstream.resume();
    // A chunk that ends a message whole is likely all the client has to say until it is answered.
    const earlier = readThrough(client, slabReads(this.onClientData, () => this.clientFramer.atBoundary));
    if (!earlier) client.on('data', this.onClientData);
    client.on('drain', () => upstream.resume());
    upstream.write(this.interception?.upstreamParameters ? startupMessage(this.interception.upstreamParameters, startupPacket.readUInt16BE(6)) : startupPacket);
    if (leftover.length > 0) this.onClientData(leftover);
    for (const chunk of earlier ?? []) this.onClientData(chunk);
    client.resume();
  }

  get user(): string {
    return this.parameters.get('user') ?? '';
  }

  /** Answers a CancelRequest: the interceptor's statement stops, and the upstream backend is cancelled as it says. */
  cancel(): void {
    const outcome = this.interceptor?.cancel() ?? 'forward';
    if (outcome === 'forward') void this.cancelUpstream();
    else if (outcome === 'ownRequest') this.cancelOwnRequest();
  }

  cancelModelCalls(): void {
    this.interceptor?.cancel();
  }

  /**
   * Cancels the request of the proxy's the upstream backend runs for the client's statement. Nothing more goes
   * upstream until the server has taken the cancel, and so signalled the backend: the signal would otherwise stop
   * whatever comes next, the statement's end or the client's next statement, once the request it was for is done.
   */
  private cancelOwnRequest(): void {
    const upstream = this.upstream;
    if (!upstream || this.phase === 'closed') return;
    upstream.cork();
    void this.cancelUpstream().finally(() => upstream.uncork());
  }

  /** Resolves once the upstream has taken the cancel, or has failed to within the connect timeout. */
  private cancelUpstream(): Promise<void> {
    const key = this.upstreamKey;
    if (!key) return Promise.resolve();
    this.context.stats.cancelRequests++;
    return cancelBackend(this.context.target, key.processId, key.secret).catch((error: unknown) => {
      this.context.stats.upstreamConnectionFailures++;
      this.log.warn({ err: error }, 'could not forward cancel request');
    });
  }

  /**
   * Ends the session once no reply is owed: right now if it is idle, otherwise after its ReadyForQuery. `deadline`
   * (a time in ms) is when the proxy's shutdown ends.
   */
  shutdown(deadline: number): void {
    this.shuttingDown = true;
    this.shutdownDeadline = deadline;
    if (this.idle) this.terminate();
  }

  /**
   * Ends the session now, telling the client why if the stream lets a message in before the shutdown's deadline,
   * and cancelling the request its backend is still running, as PostgreSQL's own fast shutdown does.
   */
  terminate(): void {
    this.cancelRunningRequest = true;
    this.fail(
      new PgError(SqlState.AdminShutdown, 'terminating connection due to administrator command', {
        severity: 'FATAL',
        hint: 'The proxy is shutting down.',
      }),
      Math.max(0, Math.min(CLOSE_GRACE_MS, this.shutdownDeadline - Date.now())),
    );
  }

  /** The transaction status of the last ReadyForQuery: idle, in a transaction block, or in a failed one. */
  get transactionStatus(): TransactionStatus {
    return this.status;
  }

  get busy(): boolean {
    return !this.idle;
  }

  get activity(): SessionActivity {
    if (this.phase === 'connecting' || this.phase === 'authenticating') return 'starting';
    if (this.busy) return 'active';
    if (this.status === 'T') return 'idle in transaction';
    return this.status === 'E' ? 'idle in transaction (aborted)' : 'idle';
  }

  /** The last statement the client sent; only seen while an interceptor inspects statements (the LLM engine does). */
  get lastStatement(): StatementHead | undefined {
    return this.statement.head;
  }

  private get idle(): boolean {
    return this.phase === 'ready' && !this.mediating && this.replies.idle;
  }

  /**
   * Relays raw bytes, except messages the framer keeps (those the interceptor inspects, and every message while
   * mediating): their bytes are held until the whole message is in and its fate is known. True when nothing holds
   * the chunk any longer (slab-reads.ts): past authentication what is kept of a client's chunk is copied (the framer's
   * frames, the interceptor's, the last statement), so only a write the upstream's socket has not completed may.
   */
  private readonly onClientData = (chunk: Buffer): boolean => {
    if (this.terminateReceived || this.phase === 'closed') return false;
    this.context.stats.bytesFromClients += chunk.length;
    return this.frameClientChunk(chunk);
  };

  /** The interceptor's looking at a big statement is too far behind its reads (true), or caught up enough again. */
  private readonly lookingBacklogged = (backlogged: boolean): void => {
    if (backlogged) this.client.pause();
    else this.resumeClient();
  };

  private lookAtArriving(type: number, frame: Buffer, filled: number): void {
    if (!this.interceptor) return;
    if (this.arrivingLook?.frame !== frame) {
      this.arrivingLook?.stop();
      this.arrivingLook = new ArrivingLook(type, frame, this.interceptor, this.lookingBacklogged);
    }
    this.arrivingLook.arrived(filled);
  }

  private frameClientChunk(chunk: Buffer): boolean {
    this.clientChunk = chunk;
    this.runStart = 0;
    this.terminateEnd = undefined;
    try {
      this.clientFramer.push(chunk, this.onClientMessage);
    } catch (error) {
      // Bytes after a Terminate are not the client's to have read, however malformed.
      if (!this.terminateReceived) {
        this.fail(error);
        return false;
      }
    } finally {
      this.clientChunk = EMPTY;
    }
    const { runStart } = this;
    const held = this.clientFramer.heldFrom;
    const runEnd = this.terminateEnd ?? (held === undefined ? chunk.length : held < 0 ? runStart : held);
    if (runEnd > runStart) this.forward(wholeOrPart(chunk, runStart, runEnd));
    return this.phase === 'ready' && this.upstream!.writableLength === 0;
  }

  /**
   * Who reads a kept client message's body as it comes, in place of the framer holding it whole. While mediating, a
   * big one is not held: it waits, unread, until the interceptor is done with those before it; a COPY message only
   * until the interceptor has handed them on (the COPY it belongs to may be running upstream, and the interceptor
   * waiting for its end), and then goes as it comes; and when the interceptor waits for it (it takes part in a
   * transaction block the interceptor runs until the client's Sync) it goes as when relaying raw, a FunctionCall as it
   * comes too (never held whole, up to --max-message-size).
   */
  private clientReader(type: number, length: number, start: number): BodyReader | undefined {
    if (this.mediating && length > MAX_MEDIATED_MESSAGE_LENGTH) {
      if (!this.interceptorCaughtUp) return this.putOff();
      if (isCopyMessage(type)) return this.relayAsItComes(type, length, start);
      if (!this.interceptorWaits) return this.putOff();
      if (type === FrontendMessage.FunctionCall) return this.relayAsItComes(type, length, start);
    }
    return type === FrontendMessage.Bind ? this.bindReader(length, start) : this.streamStatement(type, length, start);
  }

  private putOff(): BodyReader {
    this.pauseHeldClient();
    return PUT_OFF;
  }

  /**
   * A COPY message, or a FunctionCall while the interceptor waits for the client, relayed as it comes, after the bytes
   * before it in the chunk (which is let go only once the upstream's socket has taken what was written of it:
   * frameClientChunk).
   */
  private relayAsItComes(type: number, length: number, start: number): BodyReader {
    this.forwardBefore(start);
    this.messageRelayed = true;
    return relayedAsItComes(type, length, (bytes) => this.forward(bytes));
  }

  /** Forwards the bytes of the chunk being framed before `start` (-1: the message began in an earlier chunk). */
  private forwardBefore(start: number): void {
    if (start > this.runStart) this.forward(this.clientChunk.subarray(this.runStart, start));
    if (start >= 0) this.runStart = start;
  }

  /** The message put off is read now, as any message in the interceptor's state now, and the client after it. */
  private readPutOff(): void {
    if (this.awaitingJudgement) return;
    const waiting = this.clientFramer.takeWaiting();
    if (waiting && !this.terminateReceived && this.phase !== 'closed') this.frameClientChunk(waiting);
    this.resumeClient();
  }

  /** One client message of the chunk being framed (clientChunk). */
  private readonly onClientMessage = (type: number, frame: Buffer | undefined, start: number, end: number): void => {
    if (this.terminateReceived) return;
    if (type === FrontendMessage.Terminate) {
      this.terminateReceived = true;
      this.terminateEnd = end;
    }
    if (frame === undefined) {
      if (this.streamed) return this.endStreamed(type, end);
      if (this.messageRelayed) return this.endRelayed(type, end);
      return this.bindRead ? this.endBindRead(type, end) : this.accountClientMessage(type);
    }
    const look = this.arrivingLook;
    if (look?.frame === frame) {
      // Kept until the look is done, for close() to stop it.
      if (!look.lookedAtWhole(() => this.handOnLookedAt(type, frame))) return this.waitForJudgement(end);
      this.arrivingLook = undefined;
    }
    this.handOn(type, frame, start, end);
  };

  /** A message the interceptor was still looking at when it came whole, once it has looked at all of it. */
  private handOnLookedAt(type: number, frame: Buffer): void {
    this.arrivingLook = undefined;
    this.awaitingJudgement = false;
    try {
      this.handOn(type, frame, -1, 0);
    } catch (error) {
      return this.fail(error);
    }
    this.readPutOff();
  }

  /**
   * The client message that ends at `end` of the chunk being framed waits for the interceptor's judgement, and what
   * the client sent after it, unread, with it.
   */
  private waitForJudgement(end: number): void {
    this.awaitingJudgement = true;
    this.runStart = end;
    this.clientFramer.putOffRest();
    this.pauseHeldClient();
  }

  /**
   * A client message whole (the bytes from `start` to `end` of the client's chunk, or none of it when `start` is -1):
   * relayed, unless the interceptor claims it or is mediating.
   */
  private handOn(type: number, frame: Buffer, start: number, end: number, admission?: BindAdmission): void {
    if (type === FrontendMessage.Query || type === FrontendMessage.Parse) this.statement.note(frame);
    if (!this.mediating && !this.scramBridge && !this.interceptor!.claims(type, frame, admission)) {
      if (start < 0) {
        this.forward(frame);
        this.runStart = end;
      }
      return this.accountClientMessage(type);
    }
    // The end of the data goes to the interceptor, which may have to Flush after it (a COPY it runs itself).
    if (this.mediating && this.interceptorCaughtUp && feedsCopy(type, this.replies.copyingIn) && !endsCopy(type)) return this.relayCopyWhole(frame, start, end);
    if (start > this.runStart) this.forward(this.clientChunk.subarray(this.runStart, start));
    this.runStart = end;
    // The proxy runs this login itself, so nothing upstream would end the session on the client's Terminate.
    if (this.scramBridge) return type === FrontendMessage.Terminate ? this.close() : this.scramBridge.clientMessage(frame);
    this.mediating = true;
    this.interceptorWaits = false;
    this.interceptorCaughtUp = false;
    this.interceptor!.accept(type, start < 0 ? frame : Buffer.from(frame), admission);
  }

  /**
   * A Query or Parse too big for the interceptor to hold, when it says so: relayed as it comes, after the bytes
   * before it in the chunk.
   */
  private streamStatement(type: number, length: number, start: number): StatementRelay | undefined {
    if (!this.relaysRaw || (type !== FrontendMessage.Query && type !== FrontendMessage.Parse)) return undefined;
    const watch = this.interceptor?.watch(type, length);
    if (!watch) return undefined;
    this.forwardBefore(start);
    const paced = new PacedWatch(watch, this.lookingBacklogged);
    this.streamed = new StatementRelay(type, length, paced, (bytes) => this.forward(bytes), STATEMENT_HEAD_BYTES);
    return this.streamed;
  }

  /**
   * A Bind that does not arrive in one read (held whole by the framer otherwise), for the interceptor to judge before
   * its body is in: kept whole, refused with its body let go as it comes, or relayed as it comes (bind-reader.ts).
   */
  private bindReader(length: number, start: number): BindReader | undefined {
    if (!this.interceptor || this.scramBridge || this.terminateReceived) return undefined;
    if (start >= 0 && this.clientChunk.length - start > length) return undefined;
    const interceptor = this.interceptor;
    return (this.bindRead = new BindReader(
      length,
      (names, bytes) => interceptor.admitBind(names, bytes),
      (bodiless, admission) => this.bindRefused(bodiless, admission),
      (names) => (this.relaysRaw && interceptor.relaysBind(names) ? this.bindRelay() : undefined),
    ));
  }

  /**
   * Whether a message may go upstream as it comes, without the interceptor holding it: while relaying raw, and while
   * the interceptor waits for the client with nothing of its before it.
   */
  private get relaysRaw(): boolean {
    return !this.scramBridge && (!this.mediating || this.interceptorWaits);
  }

  /** Where the Bind being read goes as it comes: upstream, after the bytes before it. */
  private bindRelay(): (bytes: Buffer) => void {
    this.forwardBefore(this.clientFramer.heldFrom ?? -1);
    return (bytes) => this.forward(bytes);
  }

  /** The Bind being read is refused: handed on at once, without its body, after the messages before it. */
  private bindRefused(bodiless: Buffer, admission: BindAdmission): void {
    const start = this.clientFramer.heldFrom ?? -1;
    this.handOn(FrontendMessage.Bind, bodiless, start, start < 0 ? this.runStart : start, admission);
  }

  /** The Bind being read is all in: handed on whole, unless it was refused (and handed on) before. */
  private endBindRead(type: number, end: number): void {
    const { frame, admission, relayed } = this.bindRead!;
    this.bindRead = undefined;
    if (frame) return this.handOn(type, frame, -1, end, admission);
    this.runStart = end;
    if (!relayed) return;
    this.accountClientMessage(type);
    this.sendAfterRelay();
  }

  /**
   * A COPY message (or a Flush or Sync among the data of a running COPY, which the server ignores) while the interceptor
   * has handed on all before it: it goes straight upstream, behind its COPY, as a big one goes as it comes, and the
   * interceptor stays caught up (a COPY it waits for the end of may need more).
   */
  private relayCopyWhole(frame: Buffer, start: number, end: number): void {
    if (start < 0) {
      this.forward(frame);
      this.runStart = end;
    }
    this.accountClientMessage(frame[0]!);
  }

  /** The message relayed as it comes is all relayed. */
  private endRelayed(type: number, end: number): void {
    this.messageRelayed = false;
    this.runStart = end;
    this.accountClientMessage(type, type === FrontendMessage.FunctionCall ? this.relayedAnswer(type, undefined) : undefined);
    this.sendAfterRelay();
  }

  /**
   * The streamed statement is all read. Its answer is the server's, or the interceptor's refusal in place of it, once
   * the interceptor has judged it: until then, what the client sent after it waits, unread.
   */
  private endStreamed(type: number, end: number): void {
    const relay = this.streamed!;
    this.runStart = end;
    if (relay.judged) return this.answerStreamed(type, relay);
    this.waitForJudgement(end);
    relay.afterJudging(() => {
      this.awaitingJudgement = false;
      this.answerStreamed(type, relay);
      this.readPutOff();
    });
  }

  private answerStreamed(type: number, relay: StatementRelay): void {
    this.streamed = undefined;
    this.statement.noteStreamed(relay.statementHead);
    const { refusal } = relay;
    this.accountClientMessage(type, this.relayedAnswer(type, refusal && refusedInPlace(refusal, (frame) => this.writeToClient(frame))));
    this.sendAfterRelay();
  }

  /**
   * Where the answer goes to a message relayed as it came, given where it would (`relay`): the interceptor may take it, and
   * is then at work again, as on a message handed to it.
   */
  private relayedAnswer(type: number, relay: ReplySink | undefined): ReplySink | undefined {
    if (!this.mediating || !this.interceptor?.relayedAnswer) return relay;
    const answer = this.interceptor.relayedAnswer(type, relay);
    if (answer !== relay) {
      this.interceptorWaits = false;
      this.interceptorCaughtUp = false;
    }
    return answer;
  }

  private forward(bytes: Buffer): void {
    if (this.phase === 'closed') return;
    if (!this.upstream!.write(bytes)) this.client.pause();
  }

  /**
   * Forwards one of the interceptor's messages in a write with the others it sends before its microtasks next run
   * out: it hands on queued messages one at a time, and a flood of 5-byte Flushes made one write (a system call)
   * each.
   */
  private forwardGathered(bytes: Buffer): void {
    const upstream = this.upstream!;
    if (!this.upstreamCorked) {
      this.upstreamCorked = true;
      upstream.cork();
      process.nextTick(() => {
        this.upstreamCorked = false;
        upstream.uncork();
      });
    }
    this.forward(bytes);
  }

  private accountClientMessage(type: number, sink?: ReplySink): void {
    // A password or SASL message answers the server's authentication request: no request of a batch, owed nothing.
    if (type === FrontendMessage.PasswordMessage && this.phase === 'authenticating') return;
    this.replies.sent(type, sink);
    if (!this.repliesBacklogged && this.replies.pending >= MAX_REPLIES_OWED) {
      this.repliesBacklogged = true;
      this.client.pause();
    }
    if (sink) return;
    if (type === FrontendMessage.Query || type === FrontendMessage.Execute) this.context.stats.queriesForwarded++;
    else if (type === FrontendMessage.Terminate) this.clientTerminated = true;
  }

  /**
   * Relays raw bytes, except while mediating: then each message goes to the sink of the request it answers
   * (NotificationResponse always to the client, which must see it, and ParameterStatus too: statusesOwed). True when nothing holds the
   * chunk any longer (slab-reads.ts): no sink had any of it, and the client's socket took all it was written at once.
   */
  private readonly onUpstreamData = (chunk: Buffer): boolean => {
    if (this.phase === 'closed') return false;
    if (this.relayFrames && this.phase === 'ready' && this.upstreamFramer.atBoundary) this.relayFrames = false;
    // A sink may keep a view of what it is given: a message begun before this chunk, or one of this chunk.
    let lent = this.relayFrames || this.dispatchUpstreamMessage;
    try {
      if (this.relayFrames) {
        this.upstreamFramer.push(chunk, this.relayAuthenticationMessage);
      } else {
        this.upstreamChunk = chunk;
        this.upstreamRunStart = 0;
        this.upstreamChunkLent = lent;
        this.upstreamFramer.push(chunk, this.onUpstreamMessage);
        lent = this.upstreamChunkLent || this.dispatchUpstreamMessage;
        const runStart = this.upstreamRunStart;
        const held = this.dispatchUpstreamMessage ? this.upstreamFramer.heldFrom : undefined;
        const runEnd = held === undefined ? chunk.length : held < 0 ? runStart : held;
        if (runEnd > runStart) this.writeToClient(wholeOrPart(chunk, runStart, runEnd));
      }
    } catch (error) {
      this.fail(error);
      return false;
    } finally {
      this.upstreamChunk = EMPTY;
    }
    if (this.repliesBacklogged && this.replies.pending < RESUME_AT_REPLIES_OWED) {
      this.repliesBacklogged = false;
      this.resumeClient();
    }
    if (this.shuttingDown && this.idle && this.upstreamFramer.atBoundary) this.terminate();
    return !lent && this.phase === 'ready' && this.client.writableLength === 0;
  };

  /**
   * Ends the session (the error thrown is its end) once the server reports a client_encoding in which the interceptor
   * would read statements otherwise than the server (client-encoding.ts); whichever way it was set, the next statement
   * is read in it.
   */
  private checkClientEncoding(parameterStatus: Buffer): void {
    const refusal = this.interception && clientEncodingRefusal(parameterStatus);
    if (refusal) throw refusal;
  }

  /** One upstream message of the chunk being framed (upstreamChunk), once authentication is over. */
  private readonly onUpstreamMessage = (type: number, frame: Buffer | undefined, start: number, end: number): void => {
    if (type === BackendMessage.ParameterStatus) this.checkClientEncoding(frame!);
    if (frame === undefined && this.upstreamReport !== undefined) {
      frame = this.upstreamReport.frame();
      this.upstreamReport = undefined;
    }
    this.trackUpstreamMessage(type, frame);
    if (!this.dispatchUpstreamMessage) return this.replies.received(type);
    this.upstreamChunkLent = true;
    if (start > this.upstreamRunStart) this.writeToClient(this.upstreamChunk.subarray(this.upstreamRunStart, start));
    this.upstreamRunStart = end;
    // Without a frame, its sink has read the row as it came.
    if (frame === undefined) this.replies.received(type);
    else this.dispatch(type, frame);
  };

  private dispatch(type: number, frame: Buffer): void {
    if (type === BackendMessage.ParameterStatus) {
      // Sent ahead of whatever the client is sent next, with its latest value only.
      this.statusesOwed.set(readParameterStatusName(frame), Buffer.from(frame));
      if (!this.replies.current) this.sendStatusesOwed();
      return this.replies.received(type);
    }
    const sink = type === BackendMessage.NotificationResponse ? undefined : this.replies.current;
    if (sink) sink.message(type, frame);
    else this.writeToClient(frame);
    this.replies.received(type);
    if (type === BackendMessage.CopyInResponse) this.interceptor?.copyInStarted?.();
  }

  private trackUpstreamMessage(type: number, frame: Buffer | undefined): void {
    if (type === BackendMessage.ParameterStatus && !this.dispatchUpstreamMessage) {
      this.statusesTold.set(readParameterStatusName(frame!), Buffer.from(frame!));
    } else if (type === BackendMessage.ReadyForQuery) {
      this.status = readTransactionStatus(frame!);
      this.blockFailed = this.status === 'E';
      this.readies.received++;
      if (this.status === 'I') this.readies.lastIdle = this.readies.received;
    } else if (type === BackendMessage.CommandComplete) {
      this.blockFailed = false;
    } else if (type === BackendMessage.ErrorResponse) {
      this.context.stats.upstreamSqlErrors++;
      const severity = frame ? readErrorField(frame, 'V') : this.upstreamError!.value;
      this.upstreamError = undefined;
      this.upstreamEndedSession = severity === 'FATAL' || severity === 'PANIC';
    }
  }

  private startInterceptor(): void {
    const interception = this.interception;
    if (!interception || isReplicationConnection(this.parameters)) return;
    const session = this;
    const io: SessionIo = {
      sendUpstream: (frame, sink) => this.sendForInterceptor(frame, sink),
      writeToClient: (frame) => this.writeToClient(frame),
      clientDrained: () => this.clientDrained(),
      owed: this.replies,
      get transactionStatus() {
        return session.status;
      },
      get blockFailed() {
        return session.blockFailed;
      },
      release: () => {
        this.mediating = false;
        this.interceptorWaits = false;
        this.interceptorCaughtUp = false;
        this.readPutOff();
        if (this.shuttingDown && this.idle && this.upstreamFramer.atBoundary) this.terminate();
      },
      holdClient: (held) => this.holdClient(held),
      awaitClient: () => {
        this.interceptorWaits = true;
        this.interceptorCaughtUp = true;
        this.readPutOff();
      },
      caughtUp: () => {
        this.interceptorCaughtUp = true;
        if (this.clientFramer.putOff) this.readPutOff();
      },
      readies: this.readies,
      cancelUpstream: () => void this.cancelUpstream(),
      terminate: (error) => this.fail(error),
      sessionsOf: (processId) => this.context.cancelKeys.sessions(processId),
      log: this.log,
    };
    this.interceptor = interception.interceptor(io);
  }

  private sendForInterceptor(frame: Buffer | readonly Buffer[], sink: ReplySink | undefined): void {
    if (this.phase === 'closed') return sink?.complete(true);
    // Written now, it would land inside the client's message (an idle interceptor's Flush, as it waits for the server).
    if (this.relaying) return void this.sentAfterRelay.push([frame, sink]);
    const pieces = Buffer.isBuffer(frame) ? [frame] : frame;
    this.accountClientMessage(pieces[0]![0]!, sink);
    for (const piece of pieces) this.forwardGathered(piece);
  }

  /** Whether a client message is going upstream as it comes, part of it written. */
  private get relaying(): boolean {
    return this.streamed !== undefined || this.messageRelayed || (this.bindRead?.relayed ?? false);
  }

  /** The client's message that went as it came is all written: the interceptor's held back go after it. */
  private sendAfterRelay(): void {
    for (const [frame, sink] of this.sentAfterRelay.splice(0)) this.sendForInterceptor(frame, sink);
  }

  private holdClient(held: boolean): void {
    if (held === this.clientHeld || this.phase === 'closed') return;
    this.clientHeld = held;
    if (held) this.pauseHeldClient();
    else this.resumeClient();
  }

  /** Stops reading the client for as long as the proxy's own work takes, watching for a reset meanwhile. */
  private pauseHeldClient(): void {
    this.client.pause();
    this.heldClientProbe ??= setInterval(() => this.client.write(EMPTY), HELD_CLIENT_PROBE_MS);
    this.heldClientProbe.unref();
  }

  /**
   * Reads the client again unless something else still holds it: the interceptor, a message put off, the upstream's
   * socket, the backlog.
   */
  private resumeClient(): void {
    if (this.clientHeld || this.clientFramer.putOff || this.phase === 'closed') return;
    clearInterval(this.heldClientProbe);
    this.heldClientProbe = undefined;
    if (this.repliesBacklogged || this.upstream?.writableNeedDrain || this.streamed?.backlogged || this.arrivingLook?.backlogged) return;
    this.client.resume();
  }

  /** Upstream messages up to the first ReadyForQuery: rewritten where the proxy stands in between. */
  private readonly relayAuthenticationMessage = (type: number, frame: Buffer | undefined): void => {
    if (this.phase === 'closed') return;
    if (type === BackendMessage.ParameterStatus) this.checkClientEncoding(frame!);
    // Past the first ReadyForQuery, the rest of its chunk (or of a message begun in it) answers what the client sent
    // before the session was ready: accounted as any answer, or those requests would stay owed for good, and the
    // answers to the proxy's own requests would be taken for theirs, and the client's for the proxy's.
    if (this.phase === 'ready') {
      this.trackUpstreamMessage(type, frame);
      this.writeToClient(frame!);
      this.replies.received(type);
      return;
    }
    switch (type) {
      case BackendMessage.Authentication:
        if (this.scramBridge) {
          if (!this.scramBridge.upstreamMessage(frame!)) return;
          this.endScramBridge();
          break;
        }
        if (readAuthenticationCode(frame!) !== AuthRequest.SASL) break;
        if (this.context.scramSecrets) this.startScramBridge(frame!, this.context.scramSecrets);
        else this.writeToClient(this.withoutChannelBinding(frame!));
        return;
      case BackendMessage.BackendKeyData: {
        this.upstreamKey = readBackendKeyData(frame!);
        const { processId } = this.upstreamKey;
        const secret = this.context.cancelKeys.issue(this, processId, this.upstreamKey.secret.length);
        this.onClosed(() => this.context.cancelKeys.release(processId, this));
        this.writeToClient(backendKeyData(processId, secret));
        return;
      }
      case BackendMessage.ErrorResponse: {
        this.context.stats.upstreamSqlErrors++;
        const fields = readErrorFields(frame!);
        this.log.info({ sqlstate: fields.get('C'), message: fields.get('M') }, 'upstream refused the session');
        break;
      }
      case BackendMessage.ParameterStatus:
        this.statusesTold.set(readParameterStatusName(frame!), Buffer.from(frame!));
        break;
      case BackendMessage.ReadyForQuery:
        this.phase = 'ready';
        this.status = readTransactionStatus(frame!);
        this.startInterceptor();
        this.log.debug('session ready');
        break;
    }
    this.writeToClient(frame!);
  };

  /** The proxy authenticates the client itself, with the role's SCRAM secret, and logs in upstream for it. */
  private startScramBridge(saslRequest: Buffer, secrets: ScramSecrets): void {
    // Nothing the client sends before it is authenticated may make the proxy hold much of it.
    this.clientFramer.maxMessageLength = MAX_AUTH_TOKEN_LENGTH + 4;
    // The role's secret may arrive after the session has ended.
    this.scramBridge = new ScramBridge(saslRequest, this.user, { client: this.client, upstream: this.upstream! }, secrets, {
      toClient: (frame) => {
        if (this.phase !== 'closed') this.writeToClient(frame);
      },
      toUpstream: (frame) => {
        if (this.phase !== 'closed') this.upstream!.write(frame);
      },
      fail: (error) => this.fail(error),
    });
  }

  private endScramBridge(): void {
    this.scramBridge = undefined;
    this.clientFramer.maxMessageLength = this.context.maxMessageSize;
  }

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

  private writeToClient(data: Buffer): boolean {
    if (this.phase === 'closed') return false;
    if (this.statusesOwed.size > 0) this.sendStatusesOwed();
    this.context.stats.bytesToClients += data.length;
    const accepted = this.client.write(data);
    if (!accepted) this.upstream?.pause();
    return accepted;
  }

  /** The reports owed, those the client was not sent already. */
  private sendStatusesOwed(): void {
    const statuses = [...this.statusesOwed];
    this.statusesOwed.clear();
    for (const [name, status] of statuses) {
      if (this.statusesTold.get(name)?.equals(status)) continue;
      this.statusesTold.set(name, status);
      this.writeToClient(status);
    }
  }

  private clientDrained(): Promise<void> {
    if (this.phase === 'closed' || !this.client.writableNeedDrain) return Promise.resolve();
    return (this.clientDrain ??= new Promise((resolve) => {
      const done = (): void => {
        this.client.off('drain', done).off('close', done);
        this.clientDrain = undefined;
        resolve();
      };
      this.client.on('drain', done).on('close', done);
    }));
  }

  private readonly onClientClose = (): void => this.close();

  private readonly onUpstreamClose = (): void => {
    // A server that ends a session says why first (a FATAL 57P01 after pg_terminate_backend or at shutdown): the
    // client has that error, and a second one of the proxy's would reach it after its session is already over.
    if (this.phase !== 'closed' && !this.terminateReceived && !this.upstreamEndedSession && !this.client.destroyed) {
      this.context.stats.upstreamConnectionFailures++;
      this.fail(
        new PgError(SqlState.ConnectionFailure, 'the upstream server closed the connection unexpectedly', {
          severity: 'FATAL',
          hint: 'The server may have been restarted or the backend terminated; reconnect to start a new session.',
        }),
      );
    }
    this.close();
  };

  /** Reports an error to the client where the stream allows it (within `graceMs`), then closes both sides. */
  private fail(error: unknown, graceMs = CLOSE_GRACE_MS): void {
    if (this.phase === 'closed') return;
    const pgError =
      error instanceof PgError
        ? error
        : new PgError(SqlState.ConnectionFailure, `proxy error: ${(error as Error).message}`, { severity: 'FATAL' });
    if (!(error instanceof PgError) || error.sqlstate !== SqlState.AdminShutdown) {
      this.context.stats.proxyErrors++;
      this.log.warn({ sqlstate: pgError.sqlstate, err: pgError.message }, 'closing session');
    }
    // Mid-message, the stream has no room for the proxy's message and can only be cut.
    if (this.upstreamFramer.atBoundary) closeSocket(this.client, errorResponse(pgError), graceMs);
    else this.client.destroy();
    this.close();
  }

  /**
   * Ends the session for good, whichever side left first: both connections are closed (the client's as
   * PostgreSQL closes it, after Terminate too), and nothing either side sends afterwards is looked at.
   */
  private close(): void {
    if (this.phase === 'closed') return;
    const backendWaiting = this.phase === 'ready' && this.replies.pending === 0 && this.clientFramer.atBoundary;
    const running = this.phase === 'ready' && this.replies.pending > 0;
    this.phase = 'closed';
    this.ended.abort();
    closeSocket(this.client);
    this.closeUpstream(backendWaiting, running && this.cancelRunningRequest, running && !this.terminateReceived);
    clearInterval(this.heldClientProbe);
    this.streamed?.stop();
    this.arrivingLook?.stop();
    this.replies.abandon();
    for (const [, sink] of this.sentAfterRelay.splice(0)) sink?.complete(true);
    this.interceptor?.closed();
    for (const callback of this.closedCallbacks) callback();
  }

  /**
   * A backend waiting for a request ends quietly on a Terminate. One busy with a request would read it only once
   * the request is done, or never while it is blocked writing a result to a proxy that no longer reads: its
   * connection is cut, so it ends at once (rolling back, releasing its locks) as it would if its client vanished.
   * Cut alone, a backend busy computing would notice only when it next writes, holding its locks until then (a
   * minute of pg_sleep, a long lock wait), and could still commit what it runs: one the administrator ends
   * (`cancelFirst`) is cancelled first, and one whose client left without a Terminate (`cancelAfter`) is cancelled
   * as it is cut.
   */
  private closeUpstream(backendWaiting: boolean, cancelFirst: boolean, cancelAfter: boolean): void {
    const upstream = this.upstream;
    if (!upstream || upstream.destroyed || upstream.writableEnded) return;
    if (cancelFirst) {
      void this.cancelUpstream().finally(() => upstream.destroy());
      return;
    }
    if (!backendWaiting) {
      upstream.destroy();
      if (cancelAfter) void this.cancelUpstream();
      return;
    }
    upstream.end(this.clientTerminated ? EMPTY : terminate(), () => upstream.destroy());
  }
}

/** The bytes of a chunk from `start` to `end`: the chunk itself when that is all of it, as a relay's chunk mostly is. */
function wholeOrPart(chunk: Buffer, start: number, end: number): Buffer {
  return start === 0 && end === chunk.length ? chunk : chunk.subarray(start, end);
}
