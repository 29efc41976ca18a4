// The interception engine of one session: decides which client messages the proxy takes over, keeps the client's
// extended-protocol objects that call LLM functions (prepared statements, portals), and works through the client's
// messages in order while mediating, forwarding the ones it does not take over.

import { bindComplete, closeComplete, noData, noParameters, parseComplete } from '../../proxy/backend-write.js';
import { readBind, readExecute, readParse, readQuery, readTarget, sqlBounds } from '../../proxy/frontend-read.js';
import { parse, query } from '../../proxy/frontend-write.js';
import type { BindNames, CancelOutcome, Interceptor, InterceptorFactory, SessionIo, StatementWatch } from '../../proxy/interceptor.js';
import { MalformedMessage, PgError } from '../../proxy/pg-error.js';
import { endsCopy, feedsCopy, FrontendMessage } from '../../proxy/protocol.js';
import { serverName } from '../../proxy/server-names.js';
import type { ReplySink } from '../../proxy/replies-owed.js';
import { weakerOwnerRefusal, WEAKER_CATALOG_OWNER } from '../catalog/owner-rights.js';
import { parsingFor } from '../sql/parse-task.js';
import { EventLoopTurns } from '../event-loop-turns.js';
import { secretSyntaxError } from '../sql/secret-syntax-errors.js';
import { TRUSTED_OWNERS, type ServerNames } from '../sql/server-names.js';
import type { SecretParameter } from '../sql/secret-parameters.js';
import { ClientQueue } from './client-queue.js';
import { parseMentionsFunction } from './parse-mentions.js';
import { analyze, CURSOR_COMMANDS, DEALLOCATING_COMMANDS, type Analysis, type CancelCall, type Deallocation, type StatementPlan } from './analyze.js';
import { frameMentionsFunction, readArriving, scannedOnArrival } from './arriving-statements.js';
import { BackendCancels } from './backend-cancels.js';
import { BoundServerSettings, type SettingParameters } from './bound-server-settings.js';
import { CancelTargets } from './cancel-targets.js';
import { CallRunner, pgErrorFrom, SkippedRequest, type CallOptions } from './calls.js';
import { DEFAULT_ARGUMENT_LIMITS, roleArgumentBytes } from './argument-limits.js';
import { relayNotingCompletions } from './completion-relay.js';
import { ReadyHeldBack } from './ready-held-back.js';
import { relayToClient, watchingRefusal } from './refusal-watch.js';
import { watchingClientBegin } from './client-begin-watch.js';
import { ClientBlockStatements, type BlockEnding } from './client-block-statements.js';
import { fastpathSettingRefusal } from './fastpath-settings.js';
import type { ForwardMotion } from './cursor-plan.js';
import { Executor, refusal } from './execution.js';
import { mayListExtensions, PROXY_EXTENSIONS_TABLE, withProxyExtensions } from './extension-listing.js';
import { SessionApiKeys } from './api-key-setting.js';
import { withStartupKeysHeld } from './startup-keys.js';
import { lastingResets, RESETTING_COMMANDS, writtenAfter, type SecretReset, type WrittenAfter } from './secret-resets.js';
import { isApiKeySetting } from '../sql/api-key-statements.js';
import { MASTER_KEY_SETTING } from '../sql/master-key-statements.js';
import { heldBind } from './held-parameters.js';
import { SessionLiteralSecrets } from './literal-secrets.js';
import { SessionMasterKeys } from './master-key-setting.js';
import { NamedServers } from './named-servers.js';
import { NotInstalled } from './not-installed.js';
import { PendingParses } from './pending-parses.js';
import { STREAMED_FROM, StreamedClaim } from './streamed-claim.js';
import { RoleBytes, type SessionBytes } from './role-bytes.js';
import { MAX_ROLE_PORTAL_BYTES, TrackedPortals, type PortalRoom } from './tracked-portals.js';
import { MAX_ROLE_STATEMENT_BYTES, TrackedStatements, type KeptStatement } from './tracked-statements.js';
import { Collector, UpstreamRequests } from './upstream-requests.js';

/** A client's statement whose Execute the proxy runs itself: one calling LLM functions, DECLARE, FETCH, MOVE or CLOSE. */
type TrackedPlan = StatementPlan & { kind: 'calls' | 'declare' | 'fetch' | 'close' };
/** A client's prepared statement the proxy runs itself, with the parameter types its Parse gave. */
interface TrackedStatement {
  plan: TrackedPlan;
  parameterTypes: number[];
  /** The parameters bound in a server's place, which name that server (named-servers.ts). */
  serverParameters: ServerNames['parameters'];
  /** The parameters bound for secret arguments only, whose values a Bind hands the server held (held-parameters.ts). */
  secretParameters: SecretParameter[];
}
/** A statement the proxy answers entirely itself in the extended protocol (CREATE EXTENSION pg_llm and kin). */
type OwnPlan = StatementPlan & { kind: 'extension' };

/** What the proxy knows of a prepared statement, set aside while a Parse over its name may yet be refused. */
interface KnownStatement {
  tracked: KeptStatement<TrackedStatement> | undefined;
  own: KeptStatement<OwnPlan> | undefined;
  cancels: CancelCall[] | undefined;
  settings: SettingParameters | undefined;
}

interface BoundPortal extends TrackedStatement {
  statement: string;
  /** The client's Bind after the two names: parameters and result formats, to bind the passes the same way. */
  bindRest: Buffer;
  /** The parameters: a view of `bindRest`, so a portal keeps one copy of them. */
  parameterSection: Buffer;
  resultFormats: number[];
  /** Set once the final pass ran on the portal: more rows come from it as from any portal. */
  execution?: number;
  /** The proxy answered its Execute whole, the server's portal never run: it has no rows left (execution.ts). */
  ended?: boolean;
  /** A FETCH from a fast cursor, once executed: what it has left to read (cursors.ts). */
  left?: ForwardMotion;
}

/** What a Describe asks about the rows of a fast cursor over LLM calls: which cursor's, in which formats. */
interface CursorRows {
  cursor: string;
  resultFormats: number[];
}

/** What the sessions of each login role keep together, under one bound per role for the whole process. */
interface RolesKeep {
  portals: RoleBytes;
  statements: RoleBytes;
  arguments: RoleBytes;
}

export function interceptionEngine(options: CallOptions): InterceptorFactory {
  const rolesKeep: RolesKeep = {
    portals: new RoleBytes(options.roleBytes?.portals ?? MAX_ROLE_PORTAL_BYTES),
    statements: new RoleBytes(options.roleBytes?.statements ?? MAX_ROLE_STATEMENT_BYTES),
    arguments: new RoleBytes(options.roleBytes?.arguments ?? roleArgumentBytes(options.argumentLimits ?? DEFAULT_ARGUMENT_LIMITS)),
  };
  return (parameters) => {
    const apiKeys = new SessionApiKeys();
    return {
      upstreamParameters: withStartupKeysHeld(parameters, apiKeys),
      interceptor: (io) => new InterceptionEngine(io, options, rolesKeep, parameters.get('user') ?? '', parameters, parameters.get('database'), apiKeys),
    };
  };
}

class InterceptionEngine implements Interceptor {
  private readonly queue: ClientQueue<PortalRoom>;
  /** The Parses in the queue, and the one being handled: what a Bind read behind them binds (admitBind). */
  private readonly pendingParses = new PendingParses();
  private working = false;
  private isClosed = false;
  private readonly statements: TrackedStatements<TrackedStatement>;
  private readonly portals: TrackedPortals<BoundPortal>;
  /** Binds over a named portal forwarded, whose answer (taken or refused) has not come yet (rebind). */
  private rebindsOwed = 0;
  private readonly clientBlockStatements = new ClientBlockStatements();
  /** COPY FROM STDIN the server began reading (copyInStarted): a Sync the engine holds meanwhile was among its data. */
  private copiesStarted = 0;
  /** Statement names the proxy knew, under which a Parse was forwarded whose answer has not come yet (handleParse). */
  private readonly parsesOwed = new Map<string, number>();
  /** Statements and portals the proxy answers itself, counted and bounded as the LLM ones are. */
  private readonly ownStatements: TrackedStatements<OwnPlan>;
  private readonly ownPortals: TrackedPortals<OwnPlan>;
  private readonly requests: UpstreamRequests;
  private readonly executor: Executor;
  private readonly masterKeys: SessionMasterKeys;
  private readonly literalSecrets = new SessionLiteralSecrets();
  private readonly namedServers: NamedServers;
  private readonly backendCancels: BackendCancels;
  private readonly boundServerSettings = new BoundServerSettings();
  private catalogInstalled: boolean | undefined;
  /** Why this session may not use the catalog it has (owner-rights.ts), asked with catalogInstalled. */
  private catalogRefusal: PgError | undefined;
  private readonly cancelTargets = new CancelTargets();
  /** The arguments the session's statements hold while their calls run, in the login role's account. */
  private readonly argumentBytes: SessionBytes;

  constructor(
    private readonly io: SessionIo,
    options: CallOptions,
    rolesKeep: RolesKeep,
    /**
     * The login role: its sessions share their places and turns in the parser's thread (parse-task.ts), and one
     * bound on what their portals keep, one on what their prepared statements keep, and one on the arguments their
     * statements' calls hold.
     */
    private readonly user: string,
    /** The startup parameters, as the client sent them. */
    startup: ReadonlyMap<string, string>,
    /** The database of the startup packet; PostgreSQL takes the user's name when it names none. */
    database: string | undefined,
    /** pgai's keys, those the startup parameters gave held already (startup-keys.ts). */
    private readonly apiKeys: SessionApiKeys,
  ) {
    // PGOPTIONS (-c ai.openai_base_url=…) names a server as the client's statements do.
    this.namedServers = new NamedServers(startup, io.readies);
    this.masterKeys = new SessionMasterKeys(user);
    this.queue = new ClientQueue(io);
    this.statements = new TrackedStatements(rolesKeep.statements, user);
    this.ownStatements = new TrackedStatements(rolesKeep.statements, user);
    this.requests = new UpstreamRequests(io);
    this.argumentBytes = rolesKeep.arguments.open(user);
    const calls = new CallRunner(this.requests, options, this.masterKeys, this.apiKeys, this.literalSecrets, this.namedServers, database || user, this.argumentBytes);
    this.portals = new TrackedPortals(io, rolesKeep.portals, user, calls.argumentLimits.statement);
    this.ownPortals = new TrackedPortals(io, rolesKeep.portals, user, calls.argumentLimits.statement);
    this.backendCancels = new BackendCancels(io, user);
    this.executor = new Executor(io, this.requests, calls);
  }

  inspects(type: number): boolean {
    switch (type) {
      case FrontendMessage.Query:
      case FrontendMessage.Parse:
      // Rare, and one may set a key setting (fastpath-settings.ts).
      case FrontendMessage.FunctionCall:
        return true;
      case FrontendMessage.Bind:
        // A Bind over a tracked portal's name replaces it: the portal's old statement must not run again.
        return this.tracksStatements || this.portals.size > 0 || this.ownPortals.size > 0;
      case FrontendMessage.Execute:
        return this.portals.size > 0 || this.ownPortals.size > 0;
      case FrontendMessage.Describe:
        return this.ownStatements.size > 0 || this.ownPortals.size > 0 || this.executor.cursors.size > 0;
      case FrontendMessage.Close:
        return this.tracksStatements || this.ownPortals.size > 0 || this.portals.size > 0;
    }
    return false;
  }

  watch(type: number, length: number): StatementWatch | undefined {
    if (length <= STREAMED_FROM) return undefined;
    return new StreamedClaim(type, {
      cursorsOpen: this.executor.cursors.size > 0,
      tracksStatements: this.tracksStatements,
      knowsStatement: (name) => this.knowsStatement(name),
      readsBindsOf: (name) => (this.statements.get(name)?.secretParameters.length ?? 0) > 0 || this.boundServerSettings.of(name) !== undefined,
      forgetStatement: (name) => this.forgetStatement(name),
    });
  }

  relayedAnswer(type: number, relay: ReplySink | undefined): ReplySink | undefined {
    // It ends the block the proxy opened, as it would PostgreSQL's implicit transaction (relayEndingOwnBlock).
    const endsBlock = type === FrontendMessage.Query || type === FrontendMessage.FunctionCall;
    return endsBlock && this.executor.ownsBlock ? this.endingOwnBlock(relay ?? relayToClient(this.io)) : relay;
  }

  /**
   * A Bind of an LLM statement (or of a statement whose name is too long to keep) takes its room before it is read; one
   * that would pass a bound is refused then, its body left unread.
   */
  admitBind(names: BindNames | undefined, bytes: number): PortalRoom | undefined {
    const llmStatement = names === undefined ? this.statements.size > 0 || this.pendingParses.size > 0 : (this.pendingParses.calls(names.statement) ?? this.statements.has(names.statement));
    return llmStatement ? this.portals.reserve(names?.portal, bytes) : undefined;
  }

  /**
   * A Bind the server is to carry out as it is (trackBind without a tracked statement): what claims() and trackBind
   * read past its names (the proxy's own statements, a rebind that may be refused, the parameter a cancel takes) has
   * it whole.
   */
  relaysBind({ portal, statement }: BindNames): boolean {
    if (this.ownStatements.has(statement) || this.statements.has(statement) || this.pendingParses.calls(statement) !== undefined) return false;
    if ((portal !== '' && this.portals.has(portal)) || this.backendCancels.of(statement) !== undefined || this.boundServerSettings.of(statement) !== undefined) return false;
    this.ownPortals.delete(portal);
    this.portals.delete(portal);
    return true;
  }

  arriving(type: number, frame: Buffer, filled: number): boolean {
    if (type !== FrontendMessage.Query && type !== FrontendMessage.Parse) return false;
    // What the session holds when the statement starts; a command not looked for then is looked for when it is in.
    return readArriving(frame, filled, () => {
      const query = type === FrontendMessage.Query;
      return { cursor: this.executor.cursors.size > 0, deallocating: query && this.tracksStatements, resetting: query && this.holdsResettable };
    });
  }

  /** `room`: what admitBind set aside for this Bind, held until it is handled in turn. */
  claims(type: number, frame: Buffer, room?: PortalRoom): boolean {
    if (room) return true;
    try {
      return this.claimsReadable(type, frame);
    } catch (error) {
      // Which of the proxy's statements or portals it concerns is unknown: the proxy answers it as PostgreSQL would.
      if (error instanceof MalformedMessage) return true;
      throw error;
    }
  }

  private claimsReadable(type: number, frame: Buffer): boolean {
    switch (type) {
      case FrontendMessage.Query:
        return frameMentionsFunction(frame) || this.mentionsCursorCommand(frame) || (scannedOnArrival(frame)?.listing ?? mayListExtensions(frame)) || this.mentionsDeallocation(frame) || this.mentionsReset(frame);
      case FrontendMessage.Parse: {
        // One that changes which statements end the proxy's block waits for the server's answer (handleParse).
        if (this.clientBlockStatements.changes(frame)) return true;
        if (parseMentionsFunction(frame) || this.mentionsCursorCommand(frame)) return true;
        if (!this.tracksStatements) return false;
        // Over a statement the proxy knows, the server's answer decides what it knows (handleParse).
        const { statement } = readParse(frame);
        if (this.knowsStatement(statement)) return true;
        this.forgetStatement(statement);
        return false;
      }
      case FrontendMessage.Bind:
        if (this.ownStatements.has(readBind(frame).statement) || this.portalRefusal(frame) || this.mayBeRefusedRebind(frame) || this.bindsSecrets(frame)) return true;
        if (this.boundServerSettings.refusal(readBind(frame).statement, frame)) return true;
        // A portal of a COMMIT or SAVEPOINT bound now may be executed once the proxy's block is open.
        this.clientBlockStatements.bound(readBind(frame).portal, readBind(frame).statement);
        this.trackBind(frame, false);
        return false;
      case FrontendMessage.Execute: {
        const { portal } = readExecute(frame);
        return this.portals.has(portal) || this.ownPortals.has(portal);
      }
      case FrontendMessage.FunctionCall:
        return fastpathSettingRefusal(frame) !== undefined;
      case FrontendMessage.Describe:
      case FrontendMessage.Close: {
        const { kind, name } = readTarget(frame);
        if ((kind === 'S' ? this.ownStatements : this.ownPortals).has(name)) return true;
        if (type === FrontendMessage.Describe) return this.cursorRows(kind, name) !== undefined;
        // A statement the proxy keeps is forgotten once the server has closed it (forwardClose).
        if (this.closingStatement(kind, name)) return true;
        this.forgetClosed(kind, name);
        return false;
      }
    }
    return false;
  }

  accept(type: number, frame: Buffer, room?: PortalRoom): void {
    // COPY data goes to the COPY before it: at once when everything before it is upstream (that COPY reads it now),
    // else in its turn, or once that COPY starts reading while the engine waits for it (copyInStarted). Queued, it
    // counts towards the queue's bound, as any message does. A Flush or Sync among the data of a COPY the server reads
    // goes with it: the server ignores them, and queued, they would hold back the rest of the data the engine waits for.
    if (this.queue.length === 0 && feedsCopy(type, this.io.owed.copyingIn) && (!this.working || this.io.owed.copyingIn)) {
      this.sendCopy(type, frame);
      return this.handedOn();
    }
    if (type === FrontendMessage.Parse) this.pendingParses.held(frame, parseMentionsFunction(frame) || this.mentionsCursorCommand(frame));
    this.queue.push(type, frame, room);
    if (isStatement(type)) this.cancelTargets.arrived();
    // The session's parses queue in its login role's places in the parser's thread (parse-task.ts).
    if (!this.working) void parsingFor(this.user, () => this.work());
  }

  /**
   * The COPY reading now is the one before the COPY data at the head of the queue: sent to it now, up to its end, as
   * the engine may be waiting for that COPY's answer (a Query it relays, or one it took over) before it gets to them.
   */
  copyInStarted(): void {
    this.copiesStarted++;
    while (feedsCopy(this.queue.nextType(), true)) {
      const [type, frame] = this.queue.shift()!;
      this.sendCopy(type, frame);
      if (endsCopy(type)) return;
    }
    // All the engine holds is upstream: the rest of the data, however big, goes to the COPY as it comes.
    if (this.queue.length === 0) this.io.caughtUp();
  }

  /**
   * COPY data (or a Flush or Sync among it) sent on; after its end a Flush, for a COPY the proxy runs in the extended
   * protocol (a statement of a Query it took over): the server holds the COPY's answer until one comes. (It ignores a
   * Flush during COPY, and one after a client's own COPY sends nothing.)
   */
  private sendCopy(type: number, frame: Buffer): void {
    this.io.sendUpstream(frame);
    if (endsCopy(type)) this.requests.flush();
  }

  /**
   * A message sent on as it came, the queue empty: the session is told the engine holds nothing of the client's, as
   * before the message came (the session stops reading a big message otherwise, which the COPY may be waiting for).
   */
  private handedOn(): void {
    if (!this.working) this.io.awaitClient();
    else if (this.io.owed.copyingIn) this.io.caughtUp();
  }

  cancel(): CancelOutcome {
    const running = this.cancelTargets.cancel(this.io.owed.clientRequestsOwed);
    if (running) this.executor.cancelBeforeCalls();
    const computing = this.executor.cancel();
    if (!running) return computing ? 'handled' : 'forward';
    // PostgreSQL cancels a statement whatever it is doing, a wait for a lock included: so is the request of the proxy's
    // the server runs for it (its rows of arguments, a pass, a write). With none the server is idle, and the statement
    // sends it nothing more that could wait (execution.ts).
    return this.io.owed.hasSinks ? 'ownRequest' : 'handled';
  }

  closed(): void {
    this.isClosed = true;
    this.executor.cancel();
    this.masterKeys.close();
    this.portals.end();
    this.statements.end();
    this.ownPortals.end();
    this.ownStatements.end();
    this.argumentBytes.end();
  }

  /** `first`: work to do before the queued messages, which wait for it. */
  private async work(first?: () => Promise<void>): Promise<void> {
    this.working = true;
    // Most messages are handled without a wait (a Flush, a Bind passed on): a queue of thousands would otherwise be
    // worked through in one run that no other session, nor this client's leaving, gets into.
    const turns = new EventLoopTurns();
    try {
      await first?.();
      // Answers to the proxy's own requests must reach their sinks: mediation ends only once all are in.
      while (this.queue.length > 0 && !this.isClosed) {
        while (this.queue.length > 0 && !this.isClosed) {
          const [type, frame, room] = this.queue.shift()!;
          if (room?.refusal) await this.refuse(room.refusal);
          else {
            // Given back as the Bind is checked and tracked, in the same turn: no other session takes the room between.
            room?.release();
            await this.handle(type, frame);
          }
          if (type === FrontendMessage.Parse) this.pendingParses.handled(frame);
          await turns.step();
        }
        if (!this.isClosed) this.io.caughtUp();
        await this.settle();
      }
    } catch (error) {
      this.io.log.error({ err: error }, 'interception failed');
      this.isClosed = true;
      this.io.terminate(new PgError('XX000', `pg_llm proxy internal error: ${(error as Error).message}`, { severity: 'FATAL' }));
    } finally {
      this.working = false;
    }
    if (this.isClosed || this.queue.length > 0) return;
    if (this.executor.ownsBlock) this.io.awaitClient();
    else this.io.release();
  }

  private async handle(type: number, frame: Buffer): Promise<void> {
    if (!isStatement(type)) return this.handleReadable(type, frame);
    this.executor.statementArrived(this.cancelTargets.start());
    try {
      await this.handleReadable(type, frame);
    } finally {
      this.cancelTargets.finish();
    }
  }

  /** A message the proxy cannot read gets PostgreSQL's ERROR in its place, and the session goes on as after any. */
  private async handleReadable(type: number, frame: Buffer): Promise<void> {
    try {
      await this.handleMessage(type, frame);
    } catch (error) {
      if (!(error instanceof MalformedMessage)) throw error;
      this.io.log.debug({ err: error.message }, 'malformed client message');
      await this.refuse(error, type);
    }
  }

  private async handleMessage(type: number, frame: Buffer): Promise<void> {
    switch (type) {
      case FrontendMessage.Query:
        return this.handleQuery(frame);
      case FrontendMessage.Parse:
        return this.handleParse(frame);
      case FrontendMessage.Bind: {
        const { statement, portal } = readBind(frame);
        await this.parseAnswered(statement);
        if (this.ownStatements.has(statement)) return this.answerOwn(frame);
        const refusal = this.portalRefusal(frame) ?? this.boundServerSettings.refusal(statement, frame);
        if (refusal) return this.refuse(refusal);
        const held = this.bindsSecrets(frame) ? await this.orRefused(() => this.heldSecrets(frame), FrontendMessage.Bind) : frame;
        if (!held) return;
        if (this.mayBeRefusedRebind(held)) return this.rebind(held, frame);
        this.trackBind(held, true, frame);
        this.clientBlockStatements.bound(portal, statement);
        return this.forward(held);
      }
      case FrontendMessage.Execute:
        if (this.ownPortals.has(readExecute(frame).portal)) return this.answerOwn(frame);
        return this.handleExecute(frame);
      case FrontendMessage.Describe:
      case FrontendMessage.Close: {
        const { kind, name } = readTarget(frame);
        if (kind === 'S') await this.parseAnswered(name);
        if ((kind === 'S' ? this.ownStatements : this.ownPortals).has(name)) return this.answerOwn(frame);
        const rows = type === FrontendMessage.Describe ? this.cursorRows(kind, name) : undefined;
        if (rows) return this.describeCursorRows(frame, kind, rows);
        if (type === FrontendMessage.Close) return this.forwardClose(frame, kind, name);
        return this.forward(frame);
      }
      case FrontendMessage.Sync:
        if (this.executor.ownsBlock) {
          // A BEGIN of the client's forwarded before it may have made the block the client's: its answer tells. A
          // COPY FROM STDIN forwarded before it may start meanwhile: it reads the data after it, and the server
          // ignores a Sync during a COPY's data, as this one is then.
          const copies = this.copiesStarted;
          await this.settle();
          if (this.copiesStarted !== copies) return;
        }
        if (this.executor.ownsBlock) return this.executor.syncOwnBlock();
        return this.forward(frame);
      case FrontendMessage.CopyData:
      case FrontendMessage.CopyDone:
      case FrontendMessage.CopyFail:
        return this.sendCopy(type, frame);
      case FrontendMessage.FunctionCall: {
        const refusal = fastpathSettingRefusal(frame);
        if (refusal) return this.refuse(refusal, FrontendMessage.Query);
        if (this.executor.ownsBlock) return this.relayEndingOwnBlock(frame, relayToClient(this.io));
        return this.forward(frame);
      }
    }
    this.forward(frame);
  }

  private forward(frame: Buffer, sink?: ReplySink): void {
    this.io.sendUpstream(frame, sink);
  }

  /**
   * A Query or FunctionCall the server runs as it is, after extended-protocol messages for which the proxy opened its
   * block: it ends that block as it would PostgreSQL's implicit transaction, unless the server skips it after an
   * earlier error (the client's Sync ends the block then).
   */
  /**
   * The sink of the answer to a Query or FunctionCall relayed as it came while the proxy's block was open: it ends that
   * block, the engine at work on it (the client's next messages waiting) until it has.
   */
  private endingOwnBlock(relay: ReplySink): ReplySink {
    const answer = new ReadyHeldBack(this.watchingClientBegin(relay));
    void parsingFor(this.user, () => this.work(() => this.executor.endOwnBlockAfter(answer)));
    return answer;
  }

  private async relayEndingOwnBlock(frame: Buffer, relay: ReplySink): Promise<void> {
    await this.settle();
    if (this.io.owed.skipping || !this.executor.ownsBlock) return this.forward(frame, relay);
    await this.executor.relayEndingOwnBlock(frame, relay);
  }

  /**
   * An Execute of a statement that ends, or needs, a block of the client's (client-block-statements.ts), in the proxy's
   * block: PostgreSQL ends the implicit transaction that block stands in for with it, committed at a COMMIT, else
   * rolled back (a refusal's error ends it). The proxy ends its block so, with the portal, which it binds again (its
   * answer is not the client's), and the server, in no block, answers the statement as PostgreSQL would (25P01).
   */
  private async relayOutsideOwnBlock(frame: Buffer, ending: BlockEnding): Promise<void> {
    await this.settle();
    if (!this.io.owed.skipping && this.executor.ownsBlock) {
      await this.executor.endOwnBlock(ending.commits);
      this.forward(ending.bind, new Collector(1));
    }
    this.forward(frame);
  }

  /** `sink`, which hands the proxy's block to the client once the server has run a BEGIN of the client's in it. */
  private watchingClientBegin(sink: ReplySink): ReplySink {
    return watchingClientBegin(sink, () => this.executor.handOverBlock());
  }

  private async handleQuery(received: Buffer): Promise<void> {
    const text = readQuery(received);
    const sealed = await this.orRefused(() => this.sealedAnalysis(text), FrontendMessage.Query);
    if (!sealed) return;
    const { sql, analysis } = sealed;
    const frame = sql === text ? received : query(sql);
    const listing = withProxyExtensions(sql);
    if (listing !== undefined) return this.listExtensions(frame, listing);
    const { plans, offsets, cancels, deallocations } = analysis;
    const resets = lastingResets(analysis.resets, this.io.transactionStatus !== 'I', plans?.findIndex((plan) => plan.kind === 'transaction') ?? -1);
    this.backendCancels.queried(cancels);
    // Whoever runs it, a Query drops the unnamed statement and portal, as PostgreSQL's does.
    this.forgetClosed('S', '');
    this.forgetClosed('P', '');
    // In the proxy's block, a transaction statement acts on it as on PostgreSQL's implicit transaction (runQuery).
    if (!plans?.some((plan) => this.takesOver(plan) || (this.executor.ownsBlock && plan.kind === 'transaction'))) {
      const kept = writtenAfter(sql, offsets, resets);
      const completed = (statement: number) => {
        deallocations.filter((candidate) => candidate.statement === statement).forEach((done) => this.deallocated(done));
        resets.filter((candidate) => candidate.statement === statement).forEach((done) => this.secretsReset(done, kept(statement), analysis.servers));
      };
      if (this.executor.ownsBlock) return this.relayEndingOwnBlock(frame, relayNotingCompletions(this.io, completed));
      if (deallocations.length === 0 && resets.length === 0) return this.forward(frame);
      return this.forward(frame, relayNotingCompletions(this.io, completed));
    }
    await this.settle();
    // PostgreSQL ignores a Query after an extended-protocol error, and answers 25P02 in a failed transaction unless
    // the Query first leaves the failure (ROLLBACK, ROLLBACK TO…): then the rest runs as in any other block.
    const [first] = plans;
    if (this.io.owed.skipping || (this.io.blockFailed && !(first?.kind === 'transaction' && first.leavesFailure))) return this.forward(frame);
    if (plans.some((plan) => plan.kind === 'extension')) this.catalogInstalled = undefined;
    // Asked once the statements before the first that needs it have run: a ROLLBACK TO may have left the failure.
    const ok = await this.executor.runQuery(plans, offsets, () => this.isInstalled());
    if (!ok) this.catalogInstalled = undefined;
    // Every statement ran: its DEALLOCATEs too. After an error, which did is not known, and the statements stay known.
    if (ok) deallocations.forEach((done) => this.deallocated(done));
    // Its resets, whether they ran or not: a secret let go of too soon is set again, one held too long could be stolen.
    const kept = writtenAfter(sql, offsets, resets);
    resets.forEach((done) => this.secretsReset(done, kept(done.statement), analysis.servers));
  }

  private async handleParse(received: Buffer): Promise<void> {
    const message = readParse(received);
    const name = message.statement;
    await this.parseAnswered(name);
    const noted = this.clientBlockStatements.parsed(received);
    // The Parse forwarded, what it noted undone if the server refuses or skips it.
    const forwardParse = (frame: Buffer, sink?: ReplySink): void =>
      this.forward(frame, noted ? watchingRefusal(sink ?? relayToClient(this.io), (skipped) => noted.undo(skipped), () => undefined) : sink);
    // PostgreSQL refuses a Parse naming a statement that exists (42P05), and keeps that one; the unnamed statement goes
    // whatever becomes of a Parse the server runs. What the proxy knew is set aside until the server has taken the new,
    // and put back when the Parse never ran: refused by the proxy, or skipped by the server after an earlier error.
    const previous = this.takeStatement(name);
    const keepPrevious = (): void => {
      this.restoreStatement(name, previous);
      noted?.undo(true);
    };
    // Set aside, its plan keeps its room in the role's bound, so that it can always be put back; once the server has
    // taken the new statement (or dropped the unnamed one), the room goes back.
    const dropPrevious = (): void => {
      this.statements.letGo(previous?.tracked);
      this.ownStatements.letGo(previous?.own);
    };
    const serverRefused = (skipped: boolean): void => (skipped || name !== '' ? keepPrevious() : dropPrevious());
    // Until the server answers, which statement a name it knew is is not known: what comes for it meanwhile waits
    // (parseAnswered). Not the unnamed statement's: it goes whether the server runs the Parse or refuses it.
    const watched = (sink: ReplySink, refused: (skipped: boolean) => void): ReplySink => {
      if (!previous || name === '') return watchingRefusal(sink, refused, dropPrevious);
      this.parsesOwed.set(name, (this.parsesOwed.get(name) ?? 0) + 1);
      const answered = (): void => {
        const owed = this.parsesOwed.get(name)! - 1;
        if (owed === 0) this.parsesOwed.delete(name);
        else this.parsesOwed.set(name, owed);
      };
      return watchingRefusal(sink, (skipped) => (answered(), refused(skipped)), () => (answered(), dropPrevious()));
    };
    const sealed = await this.orRefused(() => this.sealedAnalysis(message.sql), FrontendMessage.Parse);
    if (!sealed) return keepPrevious();
    const { sql, analysis } = sealed;
    const frame = sql === message.sql ? received : parse(name, sql, message.parameterTypes);
    const { plans, cancels } = analysis;
    this.backendCancels.parsed(name, cancels);
    const tooMany = this.boundServerSettings.parsed(name, analysis.servers.settingParameters);
    if (tooMany) {
      keepPrevious();
      return this.refuse(tooMany);
    }
    if (plans?.length === 1 && plans[0]!.kind === 'extension') {
      const overLimit = this.ownStatements.add(name, plans[0], previous?.tracked ?? previous?.own);
      if (overLimit) {
        keepPrevious();
        return this.refuse(overLimit);
      }
      dropPrevious();
      return this.answerOwn(frame);
    }
    if (plans?.length === 1 && plans[0]!.kind === 'refused') {
      keepPrevious();
      return this.refuse(refusal(plans[0]));
    }
    const plan = plans?.length === 1 && isTracked(plans[0]!) ? plans[0] : undefined;
    if (!plan) return forwardParse(frame, previous ? watched(relayToClient(this.io), serverRefused) : undefined);
    // Without the catalog the statement is PostgreSQL's to run as it is, or to refuse (with the reason added); a
    // catalog this session may not use (owner-rights.ts) refuses it.
    if (plan.kind === 'calls' || plan.kind === 'declare') {
      const installed = await this.isInstalled().catch((error: unknown) => (error instanceof PgError ? error : Promise.reject(error)));
      if (installed instanceof PgError) {
        keepPrevious();
        return this.refuse(installed);
      }
      if (!installed) {
        const notInstalled = new NotInstalled(this.io, plan.extension);
        return forwardParse(frame, previous ? watched(notInstalled, serverRefused) : notInstalled);
      }
    }
    const overLimit = this.statements.add(name, { plan, parameterTypes: message.parameterTypes, serverParameters: analysis.servers.parameters, secretParameters: analysis.secretParameters }, previous?.tracked ?? previous?.own);
    if (overLimit) {
      keepPrevious();
      return this.refuse(overLimit);
    }
    // A refused Parse may mean the catalog is gone (dropped from another session): the next one asks again.
    const refused = (skipped: boolean): void => {
      this.catalogInstalled = undefined;
      serverRefused(skipped);
    };
    forwardParse(frame, watched(relayToClient(this.io), refused));
  }

  private async handleExecute(frame: Buffer): Promise<void> {
    const { portal, maxRows } = readExecute(frame);
    // Which portal the name is depends on the server's answer to a Bind still owed.
    if (this.rebindsOwed > 0) await this.settle();
    const bound = this.portals.get(portal);
    const ending = this.executor.ownsBlock ? this.clientBlockStatements.endingOf(portal) : undefined;
    if (!bound && ending) return this.relayOutsideOwnBlock(frame, ending);
    if (!bound) return this.forward(frame, this.executor.ownsBlock ? this.watchingClientBegin(relayToClient(this.io)) : undefined);
    await this.settle();
    if (this.io.owed.skipping) return;
    // None of these may run in a failed block: the server refuses it (25P02), as it would without the proxy.
    if (this.io.blockFailed) return this.forward(frame);
    const { plan } = bound;
    const target = {
      statement: bound.statement,
      parameterTypes: bound.parameterTypes,
      bindRest: bound.bindRest,
      parameterSection: bound.parameterSection,
      resultFormats: bound.resultFormats,
      clientPortal: { name: portal, maxRows },
    };
    if (plan.kind === 'declare') return this.executor.runDeclarePortal(plan, target);
    if (plan.kind === 'close') return this.executor.runClosePortal(frame, plan);
    if (plan.kind === 'fetch') {
      bound.left = await this.executor.runFetchPortal(frame, plan.motion, { name: portal, maxRows, resultFormats: bound.resultFormats }, bound.left);
      return;
    }
    if (bound.ended) return this.executor.answerEndedPortal();
    if (bound.execution !== undefined) return this.executor.resumePortal(bound.execution, portal, maxRows);
    const { ran, synced } = await this.executor.runPortal(plan, target, this.queue.nextType() === FrontendMessage.Sync);
    // The Sync after it was answered with it.
    if (synced) this.queue.shift();
    bound.execution = ran?.execution;
    bound.ended = ran?.answeredWhole;
    if (ran === undefined) this.catalogInstalled = undefined;
  }

  /** Whether the proxy runs a statement of a Query itself; FETCH, MOVE and CLOSE only of cursors over LLM calls. */
  private takesOver(plan: StatementPlan): boolean {
    const { cursors } = this.executor;
    if (plan.kind === 'fetch') return cursors.get(plan.motion.cursor) !== undefined;
    if (plan.kind === 'close') return plan.cursor === undefined ? cursors.size > 0 : cursors.get(plan.cursor) !== undefined;
    return plan.kind !== 'plain' && plan.kind !== 'transaction';
  }

  /** FETCH, MOVE or CLOSE in the SQL of a Query or Parse, while the session has cursors over LLM calls. */
  private mentionsCursorCommand(frame: Buffer): boolean {
    return this.executor.cursors.size > 0 && (scannedOnArrival(frame)?.cursorCommand ?? CURSOR_COMMANDS.namedIn(frame, ...sqlBounds(frame)));
  }

  /** What a Describe asks, when it is about the rows of a FETCH from a fast cursor, or of the cursor itself. */
  private cursorRows(kind: 'S' | 'P', name: string): CursorRows | undefined {
    const { cursors } = this.executor;
    if (cursors.size === 0) return undefined;
    const bound = kind === 'P' ? this.portals.get(name) : undefined;
    const plan = kind === 'S' ? this.statements.get(name)?.plan : bound?.plan;
    const cursor = plan?.kind === 'fetch' ? (plan.motion.move ? undefined : plan.motion.cursor) : kind === 'P' ? name : undefined;
    if (cursor === undefined || cursors.get(cursor)?.kind !== 'fast') return undefined;
    return { cursor, resultFormats: bound?.resultFormats ?? [] };
  }

  /** Answers a Describe of a fast cursor's rows with their columns as the proxy sends them: the calls' results. */
  private async describeCursorRows(frame: Buffer, kind: 'S' | 'P', rows: CursorRows): Promise<void> {
    await this.settle();
    if (this.io.owed.skipping) return;
    if (!(await this.executor.cursors.describe(kind, rows.cursor, rows.resultFormats))) this.forward(frame);
  }

  /**
   * Answers a message about a statement the proxy runs itself, in its place in the client's stream: nothing after
   * an earlier error (the server would skip it too), the server's words for the rest.
   */
  private async answerOwn(frame: Buffer): Promise<void> {
    await this.settle();
    if (this.io.owed.skipping) return;
    switch (frame[0]) {
      case FrontendMessage.Parse:
        return void this.io.writeToClient(parseComplete());
      case FrontendMessage.Bind: {
        const bind = readBind(frame);
        const overLimit = this.ownPortals.refusal(bind.portal, bind.portal.length);
        if (overLimit) return this.refuse(overLimit);
        this.ownPortals.set(bind.portal, this.ownStatements.get(bind.statement)!, bind.portal.length);
        return void this.io.writeToClient(bindComplete());
      }
      case FrontendMessage.Describe:
        if (readTarget(frame).kind === 'S') this.io.writeToClient(noParameters());
        return void this.io.writeToClient(noData());
      case FrontendMessage.Close: {
        const { kind, name } = readTarget(frame);
        (kind === 'S' ? this.ownStatements : this.ownPortals).delete(name);
        return void this.io.writeToClient(closeComplete());
      }
      case FrontendMessage.Execute: {
        this.catalogInstalled = undefined;
        await this.executor.runOwn(this.ownPortals.get(readExecute(frame).portal)!);
      }
    }
  }

  /** Waits until everything sent upstream is answered; the Flush makes the server send what it holds back. */
  private async settle(): Promise<void> {
    if (this.io.owed.pending === 0) return;
    this.requests.flush();
    await this.io.owed.drained();
  }

  /**
   * What `work` makes of the SQL of a message of type `type`, or undefined once the message is refused with the error
   * it threw: a statement that would hand the server a key (see master-key-setting.ts, api-key-setting.ts and
   * literal-secrets.ts; every statement naming such a setting or calling an LLM function gets here), a big one the
   * parser's thread has no room for, or one too big to parse at all.
   */
  private async orRefused<Result>(work: () => Result | Promise<Result>, type: number): Promise<Result | undefined> {
    try {
      return await work();
    } catch (error) {
      // A session that has ended is answered nothing (its derivation of a master key was dropped: master-key-setting.ts).
      if (this.isClosed) return undefined;
      if (!(error instanceof PgError)) throw error;
      await this.refuse(error, type);
      return undefined;
    }
  }

  /**
   * The SQL with the keys of the session's settings (the master key, pgai's API keys) and the secrets its calls
   * write out held back from the server, and its analysis; a syntax error the server must not see the text of. A statement with such a secret is parsed twice: the
   * analysis must be of the text the server gets.
   */
  private async sealedAnalysis(text: string): Promise<{ sql: string; analysis: Analysis }> {
    const sql = await this.apiKeys.seal(await this.masterKeys.seal(text));
    const analysis = await analyze(sql);
    if (analysis.syntaxError) throw secretSyntaxError(analysis.syntaxError.message, analysis.syntaxError.position);
    // Read before the calls' secrets are held: a URL with a password is named as the client wrote it.
    const begins = analysis.plans?.findIndex((plan) => plan.kind === 'transaction' && plan.control === 'begin') ?? -1;
    this.namedServers.noteStatement(analysis.servers, (statement) => this.io.transactionStatus !== 'I' || (begins >= 0 && statement > begins));
    if (analysis.secrets.length === 0) return { sql, analysis };
    const held = this.literalSecrets.hold(sql, analysis.secrets);
    return { sql: held, analysis: held === sql ? analysis : await analyze(held) };
  }

  /**
   * Answers a client's message (an extended-protocol one unless `type` says otherwise) with the proxy's error in its
   * place, after what came before it; after an earlier error, with nothing, as the server skips it too.
   */
  private async refuse(error: PgError, type: number = FrontendMessage.Parse): Promise<void> {
    await this.settle();
    if (this.io.owed.skipping) return;
    await (type === FrontendMessage.Query ? this.executor.refuseQuery(error) : this.executor.reject(error));
  }

  /** Why a Bind of an LLM statement would keep more portals, or bytes of parameters, than the session may. */
  private portalRefusal(frame: Buffer): PgError | undefined {
    const bind = readBind(frame);
    return this.statements.has(bind.statement) ? this.portals.refusal(bind.portal, frame.length - bind.restOffset) : undefined;
  }

  /** Whether a Bind binds parameters of secret arguments, whose values the proxy holds before the server gets it. */
  private bindsSecrets(frame: Buffer): boolean {
    return (this.statements.get(readBind(frame).statement)?.secretParameters.length ?? 0) > 0;
  }

  /** The Bind with the values bound for secret arguments held (held-parameters.ts). */
  private heldSecrets(frame: Buffer): Buffer {
    const bind = readBind(frame);
    const secrets = this.statements.get(bind.statement)?.secretParameters ?? [];
    return heldBind(frame, bind.restOffset, secrets, this.literalSecrets);
  }

  /** Whether the proxy remembers anything of some prepared statement, so Parse, Bind and Close concern it. */
  private get tracksStatements(): boolean {
    return this.statements.size > 0 || this.ownStatements.size > 0 || this.backendCancels.size > 0 || this.boundServerSettings.size > 0;
  }

  /** A Parse (re)defines the statement: whatever the proxy knew of that name is gone. */
  private forgetStatement(name: string): void {
    this.statements.delete(name);
    this.ownStatements.delete(name);
    this.backendCancels.forget(name);
    this.boundServerSettings.forget(name);
  }

  /** Whether the proxy knows anything of the prepared statement `name`. */
  private knowsStatement(name: string): boolean {
    return this.statements.has(name) || this.ownStatements.has(name) || this.backendCancels.of(name) !== undefined || this.boundServerSettings.of(name) !== undefined;
  }

  /** Waits, when a Parse over the statement's name is forwarded, for the server's answer, which decides what it is. */
  private async parseAnswered(name: string): Promise<void> {
    if (this.parsesOwed.has(name)) await this.settle();
  }

  /** Forgets what the proxy knew of the statement, and hands it back (undefined: nothing). */
  private takeStatement(name: string): KnownStatement | undefined {
    if (!this.knowsStatement(name)) return undefined;
    const known = { tracked: this.statements.setAside(name), own: this.ownStatements.setAside(name), cancels: this.backendCancels.of(name), settings: this.boundServerSettings.of(name) };
    this.forgetStatement(name);
    return known;
  }

  /** What the proxy knows of the statement is `known` again: the server refused the Parse that would have replaced it. */
  private restoreStatement(name: string, known: KnownStatement | undefined): void {
    this.forgetStatement(name);
    if (known?.tracked) this.statements.putBack(name, known.tracked);
    if (known?.own) this.ownStatements.putBack(name, known.own);
    if (known?.cancels) this.backendCancels.parsed(name, known.cancels);
    if (known?.settings) this.boundServerSettings.parsed(name, known.settings);
  }

  /**
   * A statement of a Query the server completed: if it dropped prepared statements, the proxy forgets them too, so
   * that a pooler resetting sessions with DISCARD ALL, or a client deallocating with SQL, frees what they kept.
   * (Only a simple Query's: a DEALLOCATE run through the extended protocol leaves them known, as a Close would not.)
   */
  private deallocated({ name }: Deallocation): void {
    // The parser cuts a long identifier as the server does, at a character's end: the server then looks it up as any name.
    if (name !== undefined) return this.forgetStatement(serverName(Buffer.from(name)));
    this.statements.clear();
    this.ownStatements.clear();
    this.backendCancels.forgetAll();
    this.boundServerSettings.forgetAll();
  }

  private mentionsDeallocation(frame: Buffer): boolean {
    return this.tracksStatements && (scannedOnArrival(frame)?.deallocating ?? DEALLOCATING_COMMANDS.namedIn(frame, ...sqlBounds(frame)));
  }

  /**
   * A statement of a Query the server completed after which the secrets the session handed the proxy go
   * (secret-resets.ts). Only a simple Query's, as for deallocated: poolers reset a connection with one. `servers`: those
   * the Query named, of which a later statement's value of pg_llm.trusted_owners outlives the reset.
   */
  private secretsReset({ scope, statement }: SecretReset, kept: WrittenAfter, servers: ServerNames): void {
    if (scope === 'session') {
      this.literalSecrets.forget(kept);
      this.namedServers.forget();
    }
    const setting = typeof scope === 'object' ? scope.setting : undefined;
    if (setting === undefined || isApiKeySetting(setting)) this.apiKeys.forget(setting, kept);
    if (setting === undefined || setting === MASTER_KEY_SETTING) this.masterKeys.forget(kept);
    if (setting === undefined || setting === TRUSTED_OWNERS) {
      this.namedServers.forgetTrustedOwners(new Set(servers.values.filter((named) => named.kind === TRUSTED_OWNERS && named.statement > statement).map(({ value }) => value)));
    }
  }

  /** Whether the Query may reset settings while the proxy holds something of the session's that it then lets go of. */
  private mentionsReset(frame: Buffer): boolean {
    return this.holdsResettable && (scannedOnArrival(frame)?.resetting ?? RESETTING_COMMANDS.namedIn(frame, ...sqlBounds(frame)));
  }

  /** Whether the session handed the proxy something that a reset of its settings lets go of. */
  private get holdsResettable(): boolean {
    return this.apiKeys.holding || this.masterKeys.holding || this.literalSecrets.holding || this.namedServers.holding;
  }

  /**
   * What the proxy keeps of the statement under that name, which a Close (of kind 'S') would close: the LLM statement,
   * or the server settings it binds (review Q: forgotten when the Close was relayed, a Close the server skipped left
   * the statement there, bound unchecked).
   */
  private closingStatement(kind: string, name: string): object | undefined {
    return kind === 'S' ? (this.statements.get(name) ?? this.boundServerSettings.of(name)) : undefined;
  }

  /**
   * A Close of a statement the proxy keeps, forgotten once the server answers it, and only if the name still stands
   * for it then: the server skips a Close after an earlier error in the pipeline, and the statement stays, so a later
   * Bind of it with a key bound for a secret argument went to the server unheld (review K1). A portal is forgotten at
   * once, as a pipeline may bind and close hundreds before the server answers: one the server kept still runs only
   * as PostgreSQL's, its secrets references.
   */
  private forwardClose(frame: Buffer, kind: string, name: string): void {
    const closing = this.closingStatement(kind, name);
    if (!closing) {
      this.forgetClosed(kind, name);
      return this.forward(frame);
    }
    const closed = (): void => {
      if (this.closingStatement(kind, name) === closing) this.forgetClosed(kind, name);
    };
    this.forward(frame, watchingRefusal(relayToClient(this.io), () => undefined, closed));
  }

  /** A Close the server is to carry out: drivers that name statements afresh close them, so the counts stay low. */
  private forgetClosed(kind: string, name: string): void {
    this.clientBlockStatements.closed(kind, name);
    if (kind === 'S') {
      this.statements.delete(name);
      this.backendCancels.forget(name);
      this.boundServerSettings.forget(name);
    } else this.portals.delete(name);
  }

  /**
   * A Bind of a named portal that either is an LLM statement's or would be: PostgreSQL refuses it (42P03) if a
   * portal of that name exists, one the proxy may know of or not, and keeps that one. (The unnamed portal is always
   * replaced.)
   */
  private mayBeRefusedRebind(frame: Buffer): boolean {
    const { portal, statement } = readBind(frame);
    return portal !== '' && (this.portals.has(portal) || this.statements.has(statement));
  }

  /**
   * Forwards such a Bind, the portal it would replace set aside until the server has taken it, put back if not.
   * `bound`: the client's Bind, before its secrets were held.
   */
  private rebind(frame: Buffer, bound: Buffer): void {
    const { portal } = readBind(frame);
    const previous = this.portals.setAside(portal);
    this.trackBind(frame, true, bound);
    this.rebindsOwed++;
    const refused = (): void => {
      this.portals.putBack(portal, previous);
      this.rebindsOwed--;
    };
    this.forward(frame, watchingRefusal(relayToClient(this.io), refused, () => this.rebindsOwed--));
  }

  /**
   * A Bind the server is to carry out: its portal is tracked if it runs LLM calls, and its cancels take effect. A frame
   * the engine `owns` (accept's) is kept as it is, the one copy of a big Bind; another may be a view of the socket's
   * chunk, which the session reuses. `bound`: the client's Bind, whose values name servers (a held one does not).
   */
  private trackBind(frame: Buffer, owns = true, bound = frame): void {
    const bind = readBind(frame);
    this.backendCancels.bound(bind.statement, frame);
    this.ownPortals.delete(bind.portal);
    const tracked = this.statements.get(bind.statement);
    if (tracked) {
      const rest = frame.subarray(bind.restOffset);
      const bindRest = owns ? rest : Buffer.from(rest);
      if (tracked.serverParameters.length > 0) this.namedServers.noteParameters(bound.subarray(bind.restOffset, readBind(bound).resultFormatsOffset), tracked.serverParameters);
      this.portals.set(bind.portal, {
        ...tracked,
        statement: bind.statement,
        bindRest,
        parameterSection: bindRest.subarray(0, bind.resultFormatsOffset - bind.restOffset),
        resultFormats: bind.resultFormats,
      }, bindRest.length);
    }
    else this.portals.delete(bind.portal);
    // Bound for a server setting by a statement that calls nothing, the URL is one the client named too.
    const settings = tracked ? undefined : this.boundServerSettings.of(bind.statement);
    if (settings) this.namedServers.noteParameters(bound.subarray(bind.restOffset, readBind(bound).resultFormatsOffset), settings);
  }

  /** psql's \dx: with the proxy's extensions where this database's catalog lists them (extension-listing.ts). */
  private async listExtensions(frame: Buffer, listing: string): Promise<void> {
    await this.settle();
    if (this.io.owed.skipping || this.io.blockFailed) return this.forward(frame);
    const pending = this.requests.statement(`SELECT pg_catalog.to_regclass('${PROXY_EXTENSIONS_TABLE}') IS NOT NULL`);
    this.requests.flush();
    const served = (await pending).rows[0]?.[0]?.toString() === 't';
    this.forward(served ? query(listing) : frame);
  }

  /**
   * Asked once per session, where a query cannot disturb the client's batch; again after CREATE/DROP EXTENSION, and
   * after an intercepted statement failed (another session may have dropped the catalog meanwhile).
   */
  private async isInstalled(): Promise<boolean> {
    if (this.catalogInstalled === true) return this.mayUseCatalog();
    await this.settle();
    // The server refuses the statement then, before it looks for the function: taken as installed, it goes there.
    if (this.io.owed.skipping || this.io.blockFailed) return true;
    if (this.catalogInstalled !== undefined) return this.catalogInstalled;
    const pending = this.requests.statement(`SELECT pg_catalog.to_regclass('_pg_llm_catalog.migrations') IS NOT NULL AS installed, ${WEAKER_CATALOG_OWNER} AS weaker_owner`);
    this.requests.flush();
    const result = await pending;
    if (result.error || result.skipped) {
      // The probe's failure (a statement timeout, a cancel, a schema the role may not use) is the statement's: told,
      // not taken for "not installed", and the next statement asks again. The Sync ends the skipping it started, so
      // the error reaches the client as any refusal of the proxy's does, failing the transaction as PostgreSQL would.
      await this.requests.sync();
      throw result.error ? pgErrorFrom(result.error) : new SkippedRequest();
    }
    this.catalogInstalled = result.rows[0]?.[0]?.toString() === 't';
    const weakerOwner = result.rows[0]?.[1]?.toString();
    this.catalogRefusal = weakerOwner === undefined ? undefined : weakerOwnerRefusal(weakerOwner);
    return this.catalogInstalled && this.mayUseCatalog();
  }

  /** True, unless the catalog's owner is weaker than this session may be (owner-rights.ts): then its refusal. */
  private mayUseCatalog(): true {
    if (this.catalogRefusal) throw this.catalogRefusal;
    return true;
  }
}

/** A message that runs a statement: what a client's CancelRequest is for. */
function isStatement(type: number): boolean {
  return type === FrontendMessage.Query || type === FrontendMessage.Execute;
}

function isTracked(plan: StatementPlan): plan is TrackedPlan {
  return plan.kind === 'calls' || plan.kind === 'declare' || plan.kind === 'fetch' || plan.kind === 'close';
}

