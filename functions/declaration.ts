// The one place a SQL function's shape is written down: name, arguments (with SQL defaults), result, strictness,
// and what it does. The upstream stubs, the answers to Describe and the decoding of arguments are all derived from
// it. A function that needs no model (pgai's configuration builders, its vectorizer's catalog functions) is declared
// with its SQL body instead: installed as a real function, it runs in the server, anywhere, with or without the proxy.

import type { MasterKey } from '../src/crypto/secrets.js';
import type { SessionLiteralSecrets } from '../src/intercept/literal-secrets.js';
import type { DefaultProviders } from '../src/providers/default-provider.js';
import { PgError, SqlState } from '../proxy/pg-error.js';
import { EventLoopTurns } from '../src/event-loop-turns.js';
import { parseVector, VECTOR } from './vector-type.js';

export interface ArgumentDeclaration {
  name: string;
  /** A PostgreSQL type name as it would appear in CREATE FUNCTION: text, jsonb, integer, text[]… */
  type: string;
  /** A SQL expression; arguments with a default may be omitted by the caller. */
  default?: string;
  /** VARIADIC: the last argument, an array, taking any number of values (pgai's ai.grant_to). */
  variadic?: true;
  /**
   * A value the server must never see written out in a statement (src/sql/secret-literals.ts): 'key', secret as a
   * whole (an API key; a request's headers or query parameters, any of which may carry one); 'config', a JSON config,
   * secret when it holds credentials (src/crypto/config-secrets.ts); 'url', a server's URL, secret when it carries
   * credentials (a user, a password, query values). A text or a jsonb.
   */
  secret?: 'key' | 'config' | 'url';
  /**
   * The text of a statement (pg_llm_estimate's sql): written out as a string constant, it is read as SQL, and the
   * secrets written out in its calls are held back from the server as those of the call itself are
   * (src/sql/secret-literals.ts). A text, not secret itself.
   */
  sql?: true;
  /**
   * The name of the setting the call's key is read from (pgai's api_key_name): a name of the client's own choosing
   * that its statements give a call of one API binds the key set under it to that API (src/intercept/named-servers.ts,
   * functions/pgai/endpoint.ts). A text.
   */
  keyName?: true;
}

export interface ColumnDeclaration {
  name: string;
  type: string;
}

export type ResultDeclaration = { kind: 'scalar'; type: string } | { kind: 'table'; columns: ColumnDeclaration[] };

/** A result whose columns are not known in advance: their names and types, and the rows as text, in column order. */
export interface QueryTable {
  columns: Array<{ name: string; typeOid: number }>;
  rows: Array<Array<string | null>>;
}

/** What a call can use: the caller's session (its transaction, its role), cancellation, and its request id. */
export interface CallContext {
  /**
   * Runs a statement in the caller's session and transaction, with its role; rows as text values. The statement is
   * sent at once, so statements asked for one after another without awaiting reach the server together, with no
   * other call's statement between them.
   */
  query(sql: string, parameters?: Array<string | null>): Promise<Array<Record<string, string | null>>>;
  /** The same, with the result's column names and types. */
  queryTable(sql: string, parameters?: Array<string | null>): Promise<QueryTable>;
  /**
   * Runs a statement that writes rows nobody reads back (an audit or trace row). Where the statement's answer can wait
   * for it, it is sent without waiting, and answered with what ends the statement, whose error its failure becomes
   * (src/intercept/deferred-writes.ts); elsewhere it is query().
   */
  record(sql: string, parameters: Array<string | null>): Promise<void>;
  /**
   * queryTable of a statement whose rows are a collect pass's calls, as src/intercept/passes.ts's COLLECTED_CALLS reads
   * them: read under the proxy's limits on arguments (54000 past them, before a value over one is in).
   */
  collectedCalls(sql: string, parameters?: Array<string | null>): Promise<QueryTable>;
  /**
   * Ends the batch of statements sent so far (a Sync): after an error the server skips every statement until one.
   * The transaction stays as the error left it.
   */
  sync(): Promise<void>;
  /** Kept for the life of the client's session (one map per session), for what is worth reusing across calls. */
  sessionCache: Map<string, unknown>;
  /** Aborted when the client cancels the statement or disconnects. */
  signal: AbortSignal;
  /** Correlates the call's audit and trace rows. */
  requestId: string;
  /** Keys that open stored secrets; the first seals new ones. Empty when none is configured. */
  masterKeys(): Promise<MasterKey[]>;
  /** The pg_llm.* settings in force in the caller's session. */
  settings(): Promise<SessionSettings>;
  /**
   * pgai's setting ai.<name> in the caller's session (read once a statement), undefined when unset or empty; a key
   * the proxy holds in the setting's place (SET ai.openai_api_key) is the key itself here, and `held`.
   */
  aiSetting(name: string): Promise<AiSetting | undefined>;
  /** The call's arguments the proxy held back from the server: secrets the client wrote out in its statement. */
  heldArguments: ReadonlySet<string>;
  /**
   * Whether the client itself named the server at `url` in its session, for servers of this kind: an API of pgai's
   * (openai, ollama…) or 'model' (src/intercept/named-servers.ts, src/sql/server-names.ts).
   */
  namedByClient(url: string, kind: string): boolean;
  /** Who calls: the role and database, as the response cache tells callers apart. */
  asker(): Promise<string>;
  /** The database the caller's session is connected to. */
  database(): Promise<string>;
  /** The models of functions that name none, as the proxy resolved them at start-up. */
  defaults: DefaultProviders;
  /**
   * The secrets the session's statements write out in calls, which the server knows only by reference: for SQL a
   * function runs for its caller (held back the same way) and for the arguments of calls it finds there (resolved).
   */
  literalSecrets: SessionLiteralSecrets;
}

/** A setting of pgai's; `held` when the session handed its value to the proxy, which the server knows by reference. */
export interface AiSetting {
  value: string;
  held: boolean;
  /** The value is the one the session's login role's or database's defaults give it (ALTER ROLE/DATABASE … SET). */
  preset: boolean;
}

/** pg_llm.* settings (src/intercept/session-settings.ts reads them). */
export interface SessionSettings {
  auditEnabled: boolean;
  traceEnabled: boolean;
  /** Mask secrets (keys, tokens, passwords, e-mail addresses) in the text that audit and trace rows keep. */
  redactSensitive: boolean;
  /** The share of calls that write an audit row, 0 to 1. */
  auditSampleRate: number;
  defaultConfidenceThreshold: number;
  /** The model instance that answers when the chosen one's confidence is below the threshold and it names none. */
  defaultLocalFallback: string | undefined;
  /** The model instance the semantic operators (llm_if…) ask when their call names none; unset: the proxy's default. */
  defaultModel: string | undefined;
  /** NOTICE lines with the count of calls done while a statement's calls run (pg_llm.progress). */
  progress: boolean;
  /** The most model calls one statement may make (pg_llm.max_calls_per_statement); unset: no cap. */
  maxCallsPerStatement: number | undefined;
  /** The most US dollars one statement's model calls may cost (pg_llm.max_cost_per_statement); unset: no cap. */
  maxCostPerStatement: number | undefined;
}

/** A row of a set-returning function, keyed by column name. */
export type ResultRow = Record<string, unknown>;

/**
 * Computes one call. `args` holds every argument by name, defaults applied, as JSON values (text as string,
 * jsonb as parsed JSON, numbers, booleans, null; a vector as an array of numbers). A scalar function resolves to
 * its JSON value; a set-returning one to its rows.
 */
export type FunctionBody = (args: Record<string, unknown>, context: CallContext) => Promise<unknown>;

/** What every declaration says: where the function lives and its signature. */
export interface Signature {
  /** Where the stub lives: public (the default) or ai (pgai's functions). */
  schema?: string;
  name: string;
  arguments: ArgumentDeclaration[];
  result: ResultDeclaration;
  /** STRICT: any NULL argument makes the result NULL (or no rows) without running the function. */
  strict: boolean;
  /** One line for \df+ and the docs. */
  description: string;
}

/**
 * A request a call would make of a model, as far as it is known without making it: what pg_llm_estimate reports
 * and the budgets check before a statement's first call (src/cost/estimate.ts).
 */
export interface ModelRequest {
  /** The model instance asked, or 'default' for the proxy's default model. */
  model: string;
  /** Its config: the price and the provider's model name come from it. */
  config: Record<string, unknown>;
  /** What the request sends the model (system prompt, prompt, answer schema), whose tokens are estimated. */
  input: string;
  /** The tokens the answer is expected to take. */
  outputTokens: number;
}

/** A function the proxy computes: its stub hands the call to the proxy. */
export interface FunctionDeclaration extends Signature {
  run: FunctionBody;
  /**
   * The model requests one call makes, found without making them (catalog reads only); none for a function that
   * calls no model. Without it, a call counts as one request of a model not known in advance.
   */
  models?: (args: Record<string, unknown>, context: CallContext) => Promise<ModelRequest[]>;
  /**
   * The argument naming the model instance a call reads first, for its caller (src/catalog/models.ts's loadModel,
   * without a Reference): where the caller writes it as a constant or a parameter, the proxy reads that row in the
   * round trip that evaluates the call's arguments (src/intercept/reads-ahead.ts).
   */
  readsModel?: string;
  /**
   * An aggregate over rows (its stub is CREATE AGGREGATE, catalog/stubs.ts): each group's values of the first
   * argument, as PostgreSQL feeds them (DISTINCT, ORDER BY and FILTER inside the call are its own), reach `run` as
   * one array, NULLs included; the other arguments are the group's, the same on every row. Aggregates take no
   * defaults: there is one per number of arguments given, the omitted ones standing at their defaults.
   */
  aggregate?: true;
  /** For set-returning functions that can: the rows as they are produced, so they reach the client at once. */
  stream?: (args: Record<string, unknown>, context: CallContext) => AsyncIterable<ResultRow>;
}

/**
 * A function the server computes, from its SQL body: installed as it is, never intercepted. Its body runs with the
 * caller's rights (SECURITY INVOKER) and the search_path pg_catalog, pg_temp, so it names everything else qualified.
 */
export interface SqlFunctionDeclaration extends Signature {
  language: 'sql' | 'plpgsql';
  volatility: 'IMMUTABLE' | 'STABLE' | 'VOLATILE';
  body: string;
}

export type Declaration = FunctionDeclaration | SqlFunctionDeclaration;

export function isSqlFunction(declaration: Declaration): declaration is SqlFunctionDeclaration {
  return 'body' in declaration;
}

/** The `models` of a function that calls no model. */
export async function noModel(): Promise<ModelRequest[]> {
  return [];
}

/** Validates a declaration once, when its module loads, so a typo fails at start-up rather than at a call. */
export function declareFunction(declaration: FunctionDeclaration): FunctionDeclaration {
  if (declaration.aggregate) {
    const [collected] = declaration.arguments;
    if (declaration.result.kind !== 'scalar' || !collected || collected.default !== undefined || collected.variadic || collected.secret || declaration.strict) {
      throw new Error(`${declaration.name}: an aggregate collects a first argument without a default, variadic or secret, into a scalar, and is not strict`);
    }
  }
  return checked(declaration);
}

export function declareSqlFunction(declaration: SqlFunctionDeclaration): SqlFunctionDeclaration {
  return checked(declaration);
}

function checked<D extends Signature>(declaration: D): D {
  const identifier = /^[a-z_][a-z0-9_]*$/;
  const names = [declaration.schema ?? 'public', declaration.name, ...declaration.arguments.map((argument) => argument.name)];
  if (declaration.result.kind === 'table') names.push(...declaration.result.columns.map((column) => column.name));
  for (const name of names) if (!identifier.test(name)) throw new Error(`${declaration.name}: "${name}" is not a plain SQL identifier`);
  let defaultsStarted = false;
  for (const argument of declaration.arguments) {
    if (argument.default !== undefined) defaultsStarted = true;
    else if (defaultsStarted) throw new Error(`${declaration.name}: ${argument.name} needs a default, as the arguments before it have one`);
  }
  if (declaration.arguments.slice(0, -1).some((argument) => argument.variadic)) throw new Error(`${declaration.name}: only the last argument may be VARIADIC`);
  // The server hands a secret argument back as the text the proxy put in its place (as a JSON string in a jsonb).
  for (const argument of declaration.arguments) {
    if (argument.secret && argument.type !== 'text' && argument.type !== 'jsonb') throw new Error(`${declaration.name}: ${argument.name} is secret, so it must be text or jsonb`);
    if (argument.sql && (argument.type !== 'text' || argument.secret)) throw new Error(`${declaration.name}: ${argument.name} is SQL, so it must be text and not secret`);
  }
  return declaration;
}

/** A call's `args` from the JSON values of its arguments in declaration order. */
export function callArguments(declaration: FunctionDeclaration, values: unknown[]): Record<string, unknown> {
  return Object.fromEntries(
    declaration.arguments.map((argument, i) => {
      const value = values[i] ?? null;
      return [argument.name, argument.type === VECTOR ? parseVector(value) : value];
    }),
  );
}

/**
 * The most rows a streaming body's run keeps: it keeps them all until the call is done, and the statement's later
 * pass reads them as one JSON value (src/intercept/result-batches.ts). Far more chunks than the longest answer a model
 * streams, yet a mock model echoing a prompt word by word (or a server streaming a character a chunk) could
 * otherwise make millions, some 140 bytes each, of one call.
 */
export const MAX_KEPT_ROWS = 250_000;

/** The rows of a streaming body, all of them: the run of a set-returning function that also streams. */
export async function allRows(rows: AsyncIterable<ResultRow>): Promise<ResultRow[]> {
  const collected: ResultRow[] = [];
  const turns = new EventLoopTurns();
  for await (const row of rows) {
    if (collected.length === MAX_KEPT_ROWS) throw tooManyRows();
    collected.push(row);
    await turns.step();
  }
  return collected;
}

function tooManyRows(): PgError {
  return new PgError(SqlState.ProgramLimitExceeded, `a streamed call inside a statement may make at most ${MAX_KEPT_ROWS} rows, which the proxy keeps until the call is done`, {
    hint: 'Select its columns as they are (SELECT * FROM pg_llm_chat_stream(…)), whose rows go to the client as they come and are not kept; or ask the model for a shorter answer.',
  });
}
