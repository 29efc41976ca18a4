// Computes the calls a collect pass found: each with its function's body, concurrently up to a limit, in the
// caller's session (catalog reads and writes go through the same upstream connection, in its transaction).

import { randomUUID } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { callArguments, type AiSetting, type CallContext, type QueryTable, type ResultRow, type SessionSettings } from '../../functions/declaration.js';
import { findFunction } from '../../functions/registry.js';
import { PgError } from '../../proxy/pg-error.js';
import { checkEstimate } from '../cost/budget-check.js';
import { capped, limitsOf, type StatementLimits } from '../cost/budgets.js';
import { estimateCalls, type CollectedCall, type ModelEstimate } from '../cost/estimate.js';
import { estimateStatement } from '../cost/statement-estimate.js';
import { StatementSpending } from '../cost/statement-spending.js';
import type { MasterKey } from '../crypto/secrets.js';
import { askerParts, streamWithin } from '../providers/asker.js';
import type { DefaultProviders } from '../providers/default-provider.js';
import type { SessionApiKeys } from './api-key-setting.js';
import type { SessionLiteralSecrets } from './literal-secrets.js';
import type { SessionMasterKeys } from './master-key-setting.js';
import { HeldValues } from './held-values.js';
import type { NamedServers } from './named-servers.js';
import { parseSettings, SETTINGS_QUERY, type SettingsRow } from './session-settings.js';
import { AI_SETTING_QUERY } from './ai-setting-query.js';
import { DEFAULT_ARGUMENT_LIMITS, HeldArguments, type ArgumentLimits } from './argument-limits.js';
import { readCollectedCalls } from './collected-calls.js';
import type { SessionBytes } from './role-bytes.js';
import { records, type Result, type UpstreamRequests } from './upstream-requests.js';
import { DeferredWrites } from './deferred-writes.js';
import { ReadsAhead } from './reads-ahead.js';
import { modelRowQuery } from '../catalog/models.js';
import { heldSecretRefusal } from './held-secret-reach.js';
import { settingCase } from '../sql/setting-case.js';

/** A call the statement makes: the function and its arguments in declaration order, as JSON. */
export interface Call {
  function: string;
  arguments: unknown[];
  /** How many times the statement's rows made it, as a collect pass counts them. */
  occurrences?: number;
}

/** Computes one call of a statement; its settings are the session's at the statement's start. */
export interface StatementCalls {
  (call: Call): Promise<unknown>;
  settings(): Promise<SessionSettings>;
  /** How many calls of one statement may run at once. */
  concurrency: number;
}

/** Told the number of calls done and in all after each call, when the session wants progress. */
export type Progress = (done: number, total: number) => void;

/** What every call of one statement reads from the session once. */
interface SessionState {
  settings: SessionSettings;
  keys: MasterKey[];
  asker: string;
  database: string;
}

export interface CallOptions {
  /**
   * The proxy's master keys: the first seals new secrets (PG_LLM_MASTER_KEY), the rest only open secrets sealed before
   * a rotation (PG_LLM_PREVIOUS_MASTER_KEYS). A session's SET pg_llm.master_key comes before them all.
   */
  masterKeys: MasterKey[];
  /** How many calls of one statement run at once. */
  concurrency: number;
  defaults: DefaultProviders;
  /** pg_llm.* values (without the prefix) for sessions where PostgreSQL has none: the proxy's --settings. */
  settingDefaults?: SettingsRow;
  /** What the calls of one statement may hand the proxy as arguments (argument-limits.ts); the defaults unless set. */
  argumentLimits?: ArgumentLimits;
  /**
   * What the sessions of one login role may keep in the proxy together, in bytes: the Bind parameters of their
   * portals of LLM statements (tracked-portals.ts), the plans of their prepared LLM statements
   * (tracked-statements.ts), the arguments their statements' calls hold (argument-limits.ts); the defaults unless
   * set (only tests lower them).
   */
  roleBytes?: { portals?: number; statements?: number; arguments?: number };
}

/** The ai.* settings read so far by a statement's calls, each read once. */
type AiSettings = Map<string, Promise<AiSetting | undefined>>;

/**
 * What the calls of one client statement share: the session's state, read once, what they have spent, the reads
 * sent ahead of them, and the writes they send without waiting, where the statement allows it.
 */
interface StatementScope {
  state: Promise<SessionState> | undefined;
  spending: StatementSpending;
  ahead: ReadsAhead | undefined;
  writes: DeferredWrites | undefined;
  /** Why the statement may not open the secrets the session holds, once judged (held-secret-reach.ts). */
  untrustedReach: PgError | undefined;
}

export class CallRunner {
  private readonly sessionCache = new Map<string, unknown>();
  private scope: StatementScope = newScope();
  /** The keys and database of the session's last statement: what a model's row is read ahead with. */
  private lastSeen: Pick<SessionState, 'keys' | 'database'>;

  constructor(
    private readonly requests: UpstreamRequests,
    private readonly options: CallOptions,
    private readonly sessionKeys: SessionMasterKeys,
    private readonly apiKeys: SessionApiKeys,
    private readonly literalSecrets: SessionLiteralSecrets,
    private readonly namedServers: NamedServers,
    /** The database the client asked for at startup, which PostgreSQL connected the session to. */
    database: string,
    /** The session's account of the arguments its statements hold, in its login role's. */
    private readonly argumentBytes: SessionBytes,
  ) {
    this.lastSeen = { keys: options.masterKeys, database };
  }

  get argumentLimits(): ArgumentLimits {
    return this.options.argumentLimits ?? DEFAULT_ARGUMENT_LIMITS;
  }

  /** Where one statement (or one of its passes) holds the rows of its calls' arguments, until it ends them. */
  heldArguments(): HeldArguments {
    return new HeldArguments(this.argumentLimits, this.argumentBytes);
  }

  /** A client statement starts: its calls read the session's state afresh, and spend under caps of their own. */
  beginStatement(): void {
    this.scope = newScope();
  }

  /** Asks for the session's state now, so that the question travels with what goes upstream next (a collect pass). */
  askSessionState(): void {
    void this.sessionState();
  }

  /**
   * Reads the row of model `instanceName` in what goes upstream next, ahead of the statement's call that will load it
   * (reads-ahead.ts), with the keys and database of the session's last statement: the call takes it if its own read,
   * with the session's keys now, is the same.
   */
  readModelAhead(instanceName: string): void {
    const { sql, parameters } = modelRowQuery(this.lastSeen.keys, this.lastSeen.database, instanceName);
    (this.scope.ahead ??= new ReadsAhead(this.requests)).read(sql, parameters);
  }

  /** The statement's calls send their audit and trace rows without waiting (deferred-writes.ts). */
  deferWrites(): DeferredWrites {
    return (this.scope.writes = new DeferredWrites(this.requests));
  }

  /** Whether a cap applies to the statement's calls (budgets.ts): then they are estimated before they run. */
  async capped(): Promise<boolean> {
    return capped(await this.limits());
  }

  /**
   * Refuses (LM003) the calls a statement is about to make when their estimate would take it over a cap; when no
   * cap applies, estimates nothing.
   */
  async checkBudget(calls: Iterable<Call>, signal: AbortSignal): Promise<void> {
    const limits = await this.limits();
    if (!capped(limits)) return;
    const collected: CollectedCall[] = [...calls].map((call) => ({ ...call, occurrences: call.occurrences ?? 1 }));
    const estimate = await estimateCalls(this.context(signal, () => this.sessionState(), new Map()), collected);
    checkEstimate(estimate, limits, this.scope.spending);
  }

  /**
   * Whether the session holds secrets it wrote out or bound in its statements (literal-secrets.ts), or keys it set
   * (SET ai.openai_api_key, its startup options: api-key-setting.ts).
   */
  get holdsSecrets(): boolean {
    return this.literalSecrets.holding || this.apiKeys.holdsAnyKey;
  }

  /**
   * Judges what the statement (its text as the server gets it) reaches, and records for its calls why it may not open
   * the secrets the session holds (held-secret-reach.ts), which is also returned: a call opening one, or reading a
   * key the session set (context's aiSetting), is then refused with it.
   */
  async judgeReach(sql: string, signal: AbortSignal): Promise<PgError | undefined> {
    return (this.scope.untrustedReach = await heldSecretRefusal(this.context(signal, () => this.sessionState(), new Map()), sql));
  }

  /** Whether the call opens a secret the session holds. */
  opensHeldSecret(call: Call): boolean {
    const declaration = findFunction(call.function);
    return declaration !== undefined && this.literalSecrets.opens(declaration, call.arguments);
  }

  /** The model calls a statement given as text (an EXPLAIN's) would make; no model is called. */
  estimate(sql: string, signal: AbortSignal): Promise<ModelEstimate[]> {
    return estimateStatement(this.context(signal, () => this.sessionState(), new Map()), sql, 'the explained statement');
  }

  /**
   * Hands each result to `deliver` as it comes, a call's worker taking its next call once `deliver` is done with it
   * (so a consumer that stores results in batches bounds what is held). Rejects with the first call's PgError, but
   * only once every call has stopped: a call still running would otherwise use the session after the statement is over.
   */
  async compute(calls: Map<string, Call>, signal: AbortSignal, deliver: (key: string, value: unknown) => Promise<void>, progress?: Progress): Promise<void> {
    const stop = new AbortController();
    const run = this.statement(eitherSignal(signal, stop.signal));
    let failure: unknown;
    let done = 0;
    const pending = calls.entries();
    const worker = async (): Promise<void> => {
      for (let next = pending.next(); !next.done && failure === undefined; next = pending.next()) {
        const [key, call] = next.value;
        try {
          await deliver(key, await run(call));
          done++;
          if (progress && (await run.settings()).progress) progress(done, calls.size);
        } catch (error) {
          failure = firstCause(failure, error);
          stop.abort();
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.options.concurrency, calls.size) }, worker));
    if (failure !== undefined) throw asPgError(failure, signal);
  }

  /**
   * Runs the calls of one statement one at a time as asked (the caller bounds how many at once), sharing one read
   * of the session's settings, asked at once so it travels with the first call's catalog reads.
   */
  statement(signal: AbortSignal): StatementCalls {
    const state = this.sessionState();
    const { spending } = this.scope;
    // Once a cap is reached, the calls in flight stop.
    const callSignal = eitherSignal(signal, spending.signal);
    const aiSettings: AiSettings = new Map();
    const run = async (call: Call): Promise<unknown> => {
      signal.throwIfAborted();
      const { declaration, args, context } = this.prepare(call, callSignal, () => state, aiSettings);
      if (declaration.strict && declaration.arguments.some((argument) => args[argument.name] === null)) return null;
      let value: unknown;
      try {
        value = await spending.within(() => declaration.run(args, context));
      } catch (error) {
        throw spending.exceeded ?? error;
      }
      if (spending.exceeded) throw spending.exceeded;
      return value === undefined ? null : value;
    };
    return Object.assign(run, { settings: async () => (await state).settings, concurrency: this.options.concurrency });
  }

  /** The rows of one set-returning call as its function produces them. */
  async *stream(call: Call, signal: AbortSignal): AsyncIterable<ResultRow> {
    const { spending } = this.scope;
    const { declaration, args, context } = this.prepare(call, eitherSignal(signal, spending.signal), () => this.sessionState(), new Map());
    try {
      yield* streamWithin((step) => spending.within(step), declaration.stream!(args, context));
    } catch (error) {
      throw spending.exceeded ?? asPgError(error, signal);
    }
  }

  /** The session's master keys (its SET pg_llm.master_key first), read now. */
  async masterKeys(): Promise<MasterKey[]> {
    return (await this.readSessionState()).keys;
  }

  /** `aiSettings`: the ai.* settings read so far by the statement's calls, each read once. */
  private prepare(call: Call, signal: AbortSignal, sessionState: () => Promise<SessionState>, aiSettings: AiSettings) {
    const declaration = findFunction(call.function);
    if (!declaration) throw new PgError('42883', `function ${call.function} is not served by this proxy`);
    const { values, held } = this.literalSecrets.resolve(declaration, call.arguments);
    // A call opening a secret the session wrote out or bound, in a statement judged to reach untrusted code.
    if (held.size > 0 && this.scope.untrustedReach) throw this.scope.untrustedReach;
    return { declaration, args: callArguments(declaration, values), context: this.context(signal, sessionState, aiSettings, held) };
  }

  /** What a call of the statement can use (declaration.ts), its session read through `sessionState`. */
  private context(signal: AbortSignal, sessionState: () => Promise<SessionState>, aiSettings: AiSettings, heldArguments: ReadonlySet<string> = new Set()): CallContext {
    return {
      query: (sql, parameters) => this.query(sql, parameters),
      record: async (sql, parameters) => {
        const { writes } = this.scope;
        if (writes) writes.write(sql, parameters);
        else await this.query(sql, parameters);
      },
      queryTable: async (sql, parameters) => table(check(await this.send(sql, parameters))),
      collectedCalls: async (sql, parameters) => {
        const held = this.heldArguments();
        try {
          const rows = readCollectedCalls(this.requests, held, sql, parameters);
          this.requests.flush();
          return table(check(await rows));
        } finally {
          held.end();
        }
      },
      sync: async () => void (await this.requests.sync()),
      sessionCache: this.sessionCache,
      signal,
      requestId: randomUUID(),
      masterKeys: async () => (await sessionState()).keys,
      settings: async () => (await sessionState()).settings,
      aiSetting: async (name) => {
        const setting = `ai.${settingCase(name)}`;
        let value = aiSettings.get(setting);
        if (!value) aiSettings.set(setting, (value = this.readAiSetting(setting)));
        // A key the session handed the proxy opens only in a statement that runs no code of roles the session does not
        // trust: a view's call could otherwise spend it on prompts, headers and a body of its own (review W1).
        const read = await value;
        if (read?.held && this.scope.untrustedReach) throw this.scope.untrustedReach;
        return read;
      },
      heldArguments,
      namedByClient: (url, kind) => this.namedServers.has(url, kind),
      asker: async () => (await sessionState()).asker,
      database: async () => (await sessionState()).database,
      defaults: this.options.defaults,
      literalSecrets: this.literalSecrets,
    };
  }

  /** The session's state as the statement's calls see it: read once, by the first that asks. */
  private sessionState(): Promise<SessionState> {
    const { scope } = this;
    if (!scope.state) {
      scope.state = this.readSessionState();
      scope.state.catch(() => undefined);
      scope.spending.limitBy(this.limits());
    }
    return scope.state;
  }

  /** The statement's caps: its session's settings, and its role's daily budget. */
  private async limits(): Promise<StatementLimits> {
    const state = await this.sessionState();
    return limitsOf(state.settings, askerParts(state.asker) ?? { role: '', login: '' });
  }

  private async query(sql: string, parameters: Array<string | null> = []): Promise<Array<Record<string, string | null>>> {
    return records(check(await (this.scope.ahead?.answer(sql, parameters) ?? this.send(sql, parameters))));
  }

  private send(sql: string, parameters?: Array<string | null>): Promise<Result> {
    const pending = this.requests.statement(sql, parameters);
    this.requests.flush();
    return pending;
  }

  private async readAiSetting(setting: string): Promise<AiSetting | undefined> {
    const [row] = await this.query(AI_SETTING_QUERY, [setting]);
    return row?.value ? { value: this.apiKeys.resolve(setting, row.value), held: HeldValues.isReference(row.value), preset: row.preset === 't' } : undefined;
  }

  private async readSessionState(): Promise<SessionState> {
    const [row] = await this.query(SETTINGS_QUERY);
    const sessionKey = this.sessionKeys.resolve(row?.master_key);
    const keys = sessionKey ? [sessionKey, ...this.options.masterKeys] : this.options.masterKeys;
    const { database, ...settings } = row ?? {};
    this.lastSeen = { keys, database: database! };
    return { settings: parseSettings(settings, this.options.settingDefaults), keys, asker: row!.asker!, database: database! };
  }
}

function newScope(): StatementScope {
  return { state: undefined, spending: new StatementSpending(), ahead: undefined, writes: undefined, untrustedReach: undefined };
}

function table(result: Result): QueryTable {
  return {
    columns: (result.fields ?? []).map((field) => ({ name: field.name, typeOid: field.typeOid })),
    rows: result.rows.map((row) => row.map((value) => value?.toString('utf8') ?? null)),
  };
}

/**
 * The result, or the proxy's refusal of it, or the server's error as a PgError with its own SQLSTATE, message, detail
 * and hint.
 */
export function check(result: Result): Result {
  if (result.refused) throw result.refused;
  if (result.error) throw pgErrorFrom(result.error);
  if (result.skipped) throw new SkippedRequest();
  return result;
}

/** A request the server skipped because one before it (in the same batch, up to a Sync) failed. */
export class SkippedRequest extends PgError {
  constructor() {
    super('25P02', 'current transaction is aborted, commands ignored until end of transaction block');
  }
}

/**
 * Which error a statement whose concurrent calls failed reports: the first real one. Requests the server skipped
 * after it, and calls stopped because of it, fail sooner (the failing call may still be undoing what it left in the
 * session) and would otherwise hide it behind a 25P02 or an abort.
 */
export function firstCause(current: unknown, next: unknown): unknown {
  if (current === undefined) return next;
  return followsFromAnother(current) && !followsFromAnother(next) ? next : current;
}

function followsFromAnother(error: unknown): boolean {
  return error instanceof SkippedRequest || (error as Error | undefined)?.name === 'AbortError';
}

export function pgErrorFrom(fields: Map<string, string>): PgError {
  const optional = (code: string): string | undefined => fields.get(code);
  const detail = optional('D');
  const hint = optional('H');
  return new PgError(fields.get('C') ?? 'XX000', fields.get('M') ?? 'unknown error', {
    ...(detail === undefined ? {} : { detail }),
    ...(hint === undefined ? {} : { hint }),
  });
}

export function asPgError(error: unknown, signal: AbortSignal): PgError {
  if (signal.aborted) return canceled();
  if (error instanceof PgError) return error;
  return new PgError('XX000', `pg_llm proxy: ${(error as Error).message}`);
}

/** Aborted when either is; every concurrent call of a statement listens to it, so it has no listener limit. */
export function eitherSignal(first: AbortSignal, second: AbortSignal): AbortSignal {
  const signal = AbortSignal.any([first, second]);
  setMaxListeners(0, signal);
  return signal;
}

export function canceled(): PgError {
  return new PgError('57014', 'canceling statement due to user request');
}
