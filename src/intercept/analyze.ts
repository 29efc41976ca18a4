// Which client statements the proxy takes over. Two cheap tests on the raw bytes keep the parser off the hot path:
// a byte search for the registered names (or pg_llm itself), then a lexical scan that finds them only as tokens,
// outside string literals and comments. Only the statements left are parsed, with PostgreSQL's own parser, so that
// an alias or a name in a column list is not mistaken for a call; a big one off the event loop.

import type { FunctionDeclaration } from '../../functions/declaration.js';
import { EXTENSION_NAMES, extensionOf, FUNCTIONS, functionCalled, functionsCalled, keyOf, type ExtensionName } from '../../functions/registry.js';
import { sqlBounds } from '../../proxy/frontend-read.js';
import { IdentifierSet } from '../sql/identifiers.js';
import { parseStatementsNow } from '../sql/parse.js';
import { TooComplexToParse, withinStack } from '../sql/parser.js';
import { KEY_SETTING_TOKENS } from '../sql/api-key-statements.js';
import { refuseAmbiguousStrings } from '../sql/ambiguous-strings.js';
import { CODE_BODY_TOKENS, readsCode, refuseSecretsInCode } from '../sql/code-bodies.js';
import { mentionsMasterKey } from '../sql/master-key-statements.js';
import { INLINE_CODE_BYTES, INLINE_PARSE_BYTES, parseTask, runInParserThread, runParseTask } from '../sql/parse-task.js';
import { refuseMisnamedSecretCalls } from '../sql/misnamed-calls.js';
import { secretLiterals, SecretSyntaxError, type SecretLiteral } from '../sql/secret-literals.js';
import { secretParameters as secretParametersOf, type SecretParameter } from '../sql/secret-parameters.js';
import { heldSyntaxError, type HeldSyntaxError } from '../sql/secret-syntax-errors.js';
import { serverNames, type ServerNames } from '../sql/server-names.js';
import { refuseSecretsInSqlArguments } from '../sql/sql-arguments.js';
import { refuseUndeclaredArguments } from '../sql/undeclared-arguments.js';
import { explainedWithoutRunning } from './explain-plan.js';
import { cursorDeclaration, cursorMotion, type CursorDeclaration, type CursorMotion } from './cursor-plan.js';
import { projectionPlan, type ProjectionPlan } from './projection-plan.js';
import { secretResets, type SecretReset } from './secret-resets.js';
import { leavesFailure, transactionControl, type TransactionControl } from './transaction-control.js';

/**
 * The names that make a statement a candidate besides the functions': the extensions' (CREATE EXTENSION pg_llm,
 * SET pg_llm.master_key; CREATE EXTENSION ai, SET ai.openai_api_key). A name this short counts in the byte search
 * only as a word of its own, or every statement with "email" in it would be scanned.
 */
const SHORT_NAME = 4;

/**
 * PostgreSQL cancels a backend's query itself, but a session's model calls run in the proxy while its backend waits:
 * the proxy must see this call to stop them.
 */
const CANCEL_FUNCTION = 'pg_cancel_backend';

/** Built at first use: function modules (through src/sql/statement.ts) import this module while the registry loads. */
let watched: { mention: RegExp; identifiers: IdentifierSet } | undefined;

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** The commands that read or close a cursor, as tokens. */
export const CURSOR_COMMANDS = new IdentifierSet(['fetch', 'move', 'close']);

/**
 * The names mentionsFunction looks for: as a byte search over the frame, and as tokens of the SQL text (with the
 * tokens that set a key setting or keep code as text, all in one scan of the text).
 */
export function watchedNames(): { mention: RegExp; identifiers: IdentifierSet } {
  if (!watched) {
    const names = [...EXTENSION_NAMES, CANCEL_FUNCTION, ...FUNCTIONS.map((declaration) => declaration.name)];
    const patterns = names.map((name) => (name.length < SHORT_NAME ? `\\b${escape(name)}\\b` : escape(name)));
    // set_config, or an UPDATE of pg_settings, can set a key setting of pgai's, and a vectorizer's config write its
    // URL (embedding-urls.ts); a U&"…" identifier with escapes could spell any name (the lexical scan counts
    // it, and the parser decides).
    watched = { mention: new RegExp([...patterns, 'set_config', 'pg_settings', 'vectorizer', 'embedding_', 'u&'].join('|'), 'i'), identifiers: new IdentifierSet(names).and(KEY_SETTING_TOKENS).and(CODE_BODY_TOKENS) };
  }
  return watched;
}

/** True when the SQL text of a Query or Parse frame could call an intercepted function; `text` is the frame's, as latin1. */
export function mentionsFunction(frame: Buffer, text = frame.toString('latin1')): boolean {
  const { mention, identifiers } = watchedNames();
  if (!mention.test(text)) return false;
  // The engine must see every statement that could hand the server a key. The master key's name counts even inside
  // a string literal, where the engine refuses it (EXECUTE, DO: master-key-statements.ts); a key setting is set
  // through the tokens ai or set_config, which also sets the master key in a name written in pieces. Code kept as text
  // (a DO block, a function's body) is read for keys and secrets too (code-bodies.ts).
  const [start, end] = sqlBounds(frame);
  return mentionsMasterKey(text) || identifiers.namedIn(frame, start, end);
}

/**
 * A statement that only passes a set-returning call's rows through (SELECT columns FROM f(...), nothing else):
 * its rows can go to the client as the function produces them. `columns` are the function's column indexes, in
 * output order.
 */
export interface StreamShape {
  /** The function's key (functions/registry.ts). */
  function: string;
  columns: number[];
}

export type StatementPlan =
  | { kind: 'plain'; sql: string }
  | {
      kind: 'calls';
      sql: string;
      callSites: number;
      /** The extension of the functions called (the first's), which a database without the catalog needs. */
      extension: ExtensionName;
      stream: StreamShape | undefined;
      projection: ProjectionPlan | undefined;
      /** The statement an EXPLAIN without ANALYZE explains: the proxy tells the calls it would make. */
      explained: string | undefined;
    }
  | { kind: 'extension'; sql: string; extension: ExtensionName; action: 'create' | 'update' | 'drop'; ifExists: boolean; cascade: boolean }
  /** `leavesFailure`: one PostgreSQL runs in a failed block, which ends the failure (IsTransactionExitStmt). */
  | { kind: 'transaction'; sql: string; control: TransactionControl; leavesFailure: boolean }
  | { kind: 'declare'; sql: string; callSites: number; extension: ExtensionName; cursor: CursorDeclaration }
  /** Every FETCH and MOVE: whether its cursor is one over LLM calls is the session's to know (cursors.ts). */
  | { kind: 'fetch'; sql: string; motion: CursorMotion }
  /** Every CLOSE (`cursor` undefined: CLOSE ALL), for the same reason. */
  | { kind: 'close'; sql: string; cursor: string | undefined }
  | { kind: 'refused'; sql: string; reason: string; hint: string };

/** What the proxy needs to know of a client's query string. */
export interface Analysis {
  /** Each statement's plan; undefined when PostgreSQL's parser refuses the text (the server will say why). */
  plans: StatementPlan[] | undefined;
  /** Where each statement starts in the query string, in characters: PostgreSQL's error positions count from there. */
  offsets: number[];
  cancels: CancelCall[];
  /** The statements that drop prepared statements (DEALLOCATE, DISCARD ALL), for the engine to forget them too. */
  deallocations: Deallocation[];
  /** The statements after which secrets the session handed the proxy go (secret-resets.ts). */
  resets: SecretReset[];
  /** Secrets written out in the calls the proxy runs (src/sql/secret-literals.ts), for the engine to hold back. */
  secrets: SecretLiteral[];
  /** The servers the text names, where it gives them in a server's place (src/sql/server-names.ts). */
  servers: ServerNames;
  /** The parameters bound for secret arguments only (src/sql/secret-parameters.ts), whose values the engine holds at Bind. */
  secretParameters: SecretParameter[];
  /**
   * The parser's error for a refused text that may hold a secret, for the proxy to answer (src/sql/secret-syntax-errors.ts):
   * the query string's, or that of SQL written out in it for an argument declared SQL (src/sql/secret-literals.ts).
   */
  syntaxError?: HeldSyntaxError;
}

const NO_SERVERS: ServerNames = { values: [], parameters: [], settingParameters: [] };

const ANALYZE = parseTask(import.meta.url, 'analyzeNow', analyzeNow);

/** Analyzes a query string where a big one holds up no other session. */
export function analyze(sql: string): Promise<Analysis> {
  // Past INLINE_CODE_BYTES, code bodies read as code (code-bodies.ts) are the parser's thread's work, as code is; a
  // text past INLINE_PARSE_BYTES goes there anyway, within runParseTask's bounds.
  if (sql.length > INLINE_CODE_BYTES && Buffer.byteLength(sql) <= INLINE_PARSE_BYTES && readsCode(sql)) return runInParserThread(ANALYZE, sql);
  return runParseTask(ANALYZE, sql);
}

/** Analyzes on the event loop (exported for the parser's thread). */
export function analyzeNow(sql: string): Analysis {
  return withinStack(() => analyzeStatements(sql));
}

function analyzeStatements(sql: string): Analysis {
  // Where the server may read the text otherwise than the parser, it is refused, whether it parses or not (ambiguous-strings.ts).
  refuseAmbiguousStrings(sql);
  let statements: ReturnType<typeof parseStatementsNow>;
  try {
    statements = parseStatementsNow(sql);
  } catch (error) {
    if (error instanceof TooComplexToParse) throw error;
    const syntaxError = heldSyntaxError(sql, error);
    return { plans: undefined, offsets: [], cancels: [], deallocations: [], resets: [], secrets: [], servers: NO_SERVERS, secretParameters: [], ...(syntaxError && { syntaxError }) };
  }
  // Code the server would keep or log as written, a key in it with it: refused before anything else (code-bodies.ts).
  statements.forEach(({ node }) => refuseSecretsInCode(node));
  // A call of the proxy's written under a name it does not serve goes to the server as written (misnamed-calls.ts).
  statements.forEach(({ node }) => refuseMisnamedSecretCalls(node));
  // And one with an argument none of its overloads declares, which the proxy would not know to hold back (undeclared-arguments.ts).
  statements.forEach(({ node }) => refuseUndeclaredArguments(node));
  // The statements written out for an argument declared SQL reach the server inside this one: held to the same (sql-arguments.ts).
  statements.forEach(({ node }) => refuseSecretsInSqlArguments(node));
  const plans = statements.map(({ node, text }) => plan(node, text));
  let secrets: SecretLiteral[];
  try {
    // Only the statements whose calls the proxy runs reach the server: PREPARE's are refused, and there are no others.
    secrets = statements.flatMap(({ node }, i) => (plans[i]!.kind === 'calls' || plans[i]!.kind === 'declare' ? secretLiterals(node, sql) : []));
  } catch (error) {
    if (!(error instanceof SecretSyntaxError)) throw error;
    return { plans: undefined, offsets: [], cancels: [], deallocations: [], resets: [], secrets: [], servers: NO_SERVERS, secretParameters: [], syntaxError: error.held };
  }
  const servers = serverNames(statements.map(({ node }) => node));
  const secretParameters = statements.flatMap(({ node }, i) => (plans[i]!.kind === 'calls' || plans[i]!.kind === 'declare' ? secretParametersOf(node) : []));
  return { plans, offsets: statements.map(({ offset }) => offset), cancels: cancelCalls(statements), deallocations: deallocations(statements), resets: secretResets(statements), secrets, servers, secretParameters };
}

/** The statements of a script, each as its own text (for running them one at a time). */
export function splitStatements(sql: string): string[] {
  return parseStatementsNow(sql).map(({ text }) => text);
}

function plan(node: Record<string, unknown>, sql: string): StatementPlan {
  const [type, body] = Object.entries(node)[0] as [string, Record<string, unknown>];
  switch (type) {
    case 'CreateExtensionStmt':
      if (isOurs(body.extname)) {
        const cascade = ((body.options ?? []) as Array<{ DefElem?: { defname: string } }>).some((option) => option.DefElem?.defname === 'cascade');
        return { kind: 'extension', sql, extension: body.extname, action: 'create', ifExists: Boolean(body.if_not_exists), cascade };
      }
      break;
    case 'AlterExtensionStmt':
      if (isOurs(body.extname)) return { kind: 'extension', sql, extension: body.extname, action: 'update', ifExists: false, cascade: false };
      break;
    case 'DropStmt': {
      const extension = body.removeType === 'OBJECT_EXTENSION' ? droppedExtension(body) : undefined;
      if (extension) return { kind: 'extension', sql, extension, action: 'drop', ifExists: Boolean(body.missing_ok), cascade: body.behavior === 'DROP_CASCADE' };
      break;
    }
    case 'TransactionStmt':
      return { kind: 'transaction', sql, control: transactionControl(body), leavesFailure: leavesFailure(body) };
    case 'FetchStmt':
      return { kind: 'fetch', sql, motion: cursorMotion(body) };
    case 'ClosePortalStmt':
      return { kind: 'close', sql, cursor: body.portalname === undefined ? undefined : String(body.portalname) };
  }
  const callSites = interceptedCalls(body).length;
  if (callSites === 0) return { kind: 'plain', sql };
  if (type === 'DeclareCursorStmt') return declarePlan(sql, body, callSites);
  // Its calls would run later, in an EXECUTE the proxy does not take over, and find no results then.
  if (type === 'PrepareStmt') {
    return { kind: 'refused', sql, reason: 'a prepared statement made with PREPARE', hint: 'Use the protocol\'s prepared statements (every driver\'s), or run the query itself through the proxy.' };
  }
  // Its passes would each run the COPY, and the server would wait for the client's rows in every one of them.
  if (type === 'CopyStmt' && body.is_from && !body.is_program && body.filename === undefined) {
    return {
      kind: 'refused',
      sql,
      reason: 'COPY FROM STDIN',
      hint: 'COPY the rows into a staging table first, then INSERT … SELECT from it with the calls.',
    };
  }
  const select = type === 'SelectStmt';
  return {
    kind: 'calls',
    sql,
    callSites,
    extension: extensionCalled(body)!,
    stream: select && callSites === 1 ? streamShape(body) : undefined,
    projection: select ? projectionPlan(sql, callSites) : undefined,
    explained: type === 'ExplainStmt' ? explainedWithoutRunning(sql, body) : undefined,
  };
}

/**
 * A cursor whose calls are whole output columns computes them at each FETCH. Any other computes them all at once,
 * in passes over its query, and keeps their results in a temp table emptied at commit: so it cannot be held.
 */
function declarePlan(sql: string, body: Record<string, unknown>, callSites: number): StatementPlan {
  const cursor = cursorDeclaration(sql, body, callSites);
  if (cursor.holdable && !cursor.projection) {
    return {
      kind: 'refused',
      sql,
      reason: 'a cursor WITH HOLD whose calls are not whole output columns of its query',
      hint: 'Declare it WITHOUT HOLD inside a transaction block, or make each call a whole output column (SELECT id, pg_llm_chat(…) AS answer FROM …).',
    };
  }
  return { kind: 'declare', sql, callSites, extension: extensionCalled(body)!, cursor };
}

/** Clauses that make a SELECT more than a projection of its one FROM item. */
const NOT_A_PROJECTION = ['whereClause', 'groupClause', 'havingClause', 'sortClause', 'limitCount', 'limitOffset', 'distinctClause', 'windowClause', 'withClause', 'intoClause', 'lockingClause', 'valuesLists'];

function streamShape(select: Record<string, unknown>): StreamShape | undefined {
  if (select.op !== 'SETOP_NONE' || NOT_A_PROJECTION.some((clause) => select[clause] !== undefined)) return undefined;
  const from = select.fromClause as Array<Record<string, any>> | undefined;
  const range = from?.length === 1 ? from[0]!.RangeFunction : undefined;
  if (!range || range.ordinality || range.lateral || range.is_rowsfrom || range.functions?.length !== 1) return undefined;
  const call = range.functions[0].List?.items?.[0]?.FuncCall as { funcname?: Array<{ String?: { sval: string } }> } | undefined;
  const declaration = call && functionCalled(nameParts(call));
  if (!declaration || declaration.result.kind !== 'table' || !declaration.stream) return undefined;
  const { name } = declaration;
  const aliases = ((range.alias?.colnames ?? []) as Array<{ String: { sval: string } }>).map((item) => item.String.sval);
  const names = declaration.result.columns.map((column, i) => aliases[i] ?? column.name);
  const alias: string | undefined = range.alias?.aliasname;
  const columns: number[] = [];
  for (const target of select.targetList as Array<{ ResTarget: { val: Record<string, any> } }>) {
    const fields = target.ResTarget.val.ColumnRef?.fields as Array<Record<string, any>> | undefined;
    if (!fields || fields.length > 2) return undefined;
    if (fields.length === 2 && fields[0]!.String?.sval !== (alias ?? name)) return undefined;
    const last = fields.at(-1)!;
    if (last.A_Star) columns.push(...names.keys());
    else if (names.includes(last.String?.sval)) columns.push(names.indexOf(last.String.sval));
    else return undefined;
  }
  return { function: keyOf(declaration), columns };
}

function isOurs(name: unknown): name is ExtensionName {
  return EXTENSION_NAMES.includes(name as ExtensionName);
}

/**
 * The extension of ours a DROP EXTENSION names. One naming several (DROP EXTENSION ai, pg_llm) is PostgreSQL's,
 * which knows neither.
 */
function droppedExtension(body: Record<string, unknown>): ExtensionName | undefined {
  const objects = (body.objects ?? []) as Array<{ String?: { sval: string } }>;
  const ours = objects.map((object) => object.String?.sval).filter(isOurs);
  return objects.length === 1 ? ours[0] : undefined;
}

/** For each FuncCall node naming a registered function, anywhere in the tree, the declarations it may reach. */
export function interceptedCalls(node: unknown): FunctionDeclaration[][] {
  if (Array.isArray(node)) return node.flatMap(interceptedCalls);
  if (node === null || typeof node !== 'object') return [];
  const found: FunctionDeclaration[][] = [];
  for (const [key, value] of Object.entries(node)) {
    const reached = key === 'FuncCall' ? functionsCalled(nameParts(value as { funcname?: Array<{ String?: { sval: string } }> })) : [];
    if (reached.length > 0) found.push(reached);
    found.push(...interceptedCalls(value));
  }
  return found;
}

/** The extension of the first registered function the tree calls. */
function extensionCalled(node: unknown): ExtensionName | undefined {
  if (Array.isArray(node)) return node.reduce((found: ExtensionName | undefined, item) => found ?? extensionCalled(item), undefined);
  if (node === null || typeof node !== 'object') return undefined;
  for (const [key, value] of Object.entries(node)) {
    const declaration = key === 'FuncCall' ? functionsCalled(nameParts(value as { funcname?: Array<{ String?: { sval: string } }> }))[0] : undefined;
    const found = declaration ? extensionOf(declaration) : extensionCalled(value);
    if (found) return found;
  }
  return undefined;
}

/** A call's function name as written: [name] or [schema, name]. */
export function nameParts(call: { funcname?: Array<{ String?: { sval: string } }> }): string[] {
  return (call.funcname ?? []).map((part) => part.String?.sval ?? '');
}

/** A statement of a query string (its index) dropping one prepared statement, or all of them (name undefined). */
export interface Deallocation {
  statement: number;
  name: string | undefined;
}

/** The commands that drop prepared statements, as tokens. */
export const DEALLOCATING_COMMANDS = new IdentifierSet(['deallocate', 'discard']);

function deallocations(statements: Array<{ node: Record<string, unknown> }>): Deallocation[] {
  return statements.flatMap(({ node }, statement) => {
    const deallocate = node.DeallocateStmt as { name?: string; isall?: boolean } | undefined;
    if (deallocate) return [{ statement, name: deallocate.isall ? undefined : deallocate.name }];
    const discard = node.DiscardStmt as { target?: string } | undefined;
    return discard?.target === 'DISCARD_ALL' ? [{ statement, name: undefined }] : [];
  });
}

/** The process id a pg_cancel_backend call names: written as a literal, or a parameter of the extended protocol. */
export type CancelCall = { processId: number } | { parameter: number };

/** Types a process id may be cast to on its way into pg_cancel_backend. */
const INTEGER_TYPES = new Set(['int2', 'int4', 'int8']);

/** The pg_cancel_backend calls of a query string whose process id the proxy can know before PostgreSQL runs them. */
function cancelCalls(statements: Array<{ node: Record<string, unknown> }>): CancelCall[] {
  const found: CancelCall[] = [];
  const visit = (node: unknown): void => {
    if (Array.isArray(node)) return node.forEach(visit);
    if (node === null || typeof node !== 'object') return;
    for (const [key, value] of Object.entries(node)) {
      if (key === 'FuncCall') {
        const call = value as { funcname?: Array<{ String?: { sval: string } }>; args?: unknown[] };
        const parts = (call.funcname ?? []).map((part) => part.String?.sval ?? '');
        const named = parts.at(-1) === CANCEL_FUNCTION && (parts.length === 1 || parts[0] === 'pg_catalog');
        const target = named && call.args?.length === 1 ? processIdOf(call.args[0]) : undefined;
        if (target) found.push(target);
      }
      visit(value);
    }
  };
  visit(statements.map(({ node }) => node));
  return found;
}

/** An integer literal or a parameter, under any casts to an integer type. */
function processIdOf(expression: unknown): CancelCall | undefined {
  const node = expression as {
    A_Const?: { ival?: { ival?: number } };
    ParamRef?: { number: number };
    TypeCast?: { arg: unknown; typeName: { names: Array<{ String?: { sval: string } }> } };
  };
  if (node.A_Const?.ival?.ival !== undefined) return { processId: node.A_Const.ival.ival };
  if (node.ParamRef) return { parameter: node.ParamRef.number };
  if (node.TypeCast && INTEGER_TYPES.has(node.TypeCast.typeName.names.at(-1)?.String?.sval ?? '')) return processIdOf(node.TypeCast.arg);
  return undefined;
}
