// Holds SQL that a model wrote (or a caller handed to explain_query) to the rules of the function about to use it,
// with PostgreSQL's own parser rather than text matching: exactly one statement (so nothing like `COMMIT; DROP …`
// can ride along), of a kind the function allows, no system catalogs (by any path) unless allowed, no calls of the
// proxy's own functions, nothing that could have effects a rollback does not undo or run SQL these checks never saw
// (decided from the catalog: src/sql/function-check.ts); and a LIMIT added to a SELECT that has none where the
// function asks for one. PostgreSQL's privileges
// stay the security boundary (the SQL only ever runs with the caller's rights): these rules keep a model on the
// caller's own tables and away from statements the function must not run or hand back unflagged.

import type { CallContext } from '../../functions/declaration.js';
import { PgError } from '../../proxy/pg-error.js';
import { stubBodies } from '../catalog/stubs.js';
import { interceptedCalls } from '../intercept/analyze.js';
import { unsafeReach, type Refusal } from './function-check.js';
import { parseStatements, type ParsedStatement } from './parse.js';
import { scanSync, TooComplexToParse } from './parser.js';
import { mayHoldSecret, secretSyntaxError } from './secret-syntax-errors.js';

/** query: reads only (SELECT, VALUES, TABLE); dml: changes rows; ddl: changes the schema or privileges; utility: the rest. */
export type StatementKind = 'query' | 'dml' | 'ddl' | 'utility';

/** allow: as it is; warn: allowed, with a warning for the caller; refuse: 38003. */
export type Allowance = 'allow' | 'warn' | 'refuse';

export interface SqlRules {
  dml: Allowance;
  ddl: Allowance;
  /** Relations in pg_catalog, information_schema, pg_toast or the proxy's own catalog. */
  systemTables: boolean;
  /** The statement runs here (rolled back), rather than being handed back to the caller. */
  runs: boolean;
  /**
   * The statement may call the proxy's LLM functions: it runs as a collect pass, where their stubs only record the
   * calls (pg_llm_estimate). Otherwise such a call is refused: the statement runs inside the database.
   */
  proxyCalls?: boolean;
  /** Added to a top-level SELECT with no LIMIT (or FETCH FIRST) of its own. */
  limit?: number | undefined;
  /** Who wrote the SQL, for messages: "the SQL the model wrote", "query_text"… */
  source: string;
  /** How the caller can change these rules, added to a refusal's hint. */
  rulesHint: string;
}

export interface CheckedSql {
  /** The statement's text, without a trailing semicolon, with the LIMIT when one was added. */
  sql: string;
  kind: StatementKind;
  /** The statement's name: SELECT, UPDATE, CREATE TABLE… */
  command: string;
  warnings: string[];
  limitAdded: boolean;
  /** It refers to parameters ($1…), which only a caller with their values can run it with. */
  parameters: boolean;
}

export const SYSTEM_SCHEMAS = ['pg_catalog', 'information_schema', 'pg_toast', '_pg_llm_catalog'];

const DATA_CHANGES = new Set(['InsertStmt', 'UpdateStmt', 'DeleteStmt', 'MergeStmt', 'TruncateStmt']);
const SCHEMA_CHANGES =
  /^(Create|Alter|Drop)|^(IndexStmt|ViewStmt|RuleStmt|CompositeTypeStmt|DefineStmt|RenameStmt|CommentStmt|GrantStmt|GrantRoleStmt|ReassignOwnedStmt|SecLabelStmt|RefreshMatViewStmt)$/;
const COMMAND_NAMES: Record<string, string> = {
  CreateStmt: 'CREATE TABLE',
  IndexStmt: 'CREATE INDEX',
  ViewStmt: 'CREATE VIEW',
  VariableSetStmt: 'SET',
  TransactionStmt: 'transaction control',
  GrantStmt: 'GRANT/REVOKE',
};

export async function checkSql(context: CallContext, sql: string, rules: SqlRules): Promise<CheckedSql> {
  // The parser reads a C string: what follows a NUL would be handed back or sent unchecked.
  if (sql.includes('\0')) throw new PgError('42601', `${rules.source} holds a NUL character, which SQL may not`, { hint: rules.rulesHint || undefined });
  let statements: ParsedStatement[];
  try {
    statements = await parseStatements(sql);
  } catch (error) {
    if (error instanceof TooComplexToParse) throw error;
    const message = `${rules.source} is not valid SQL: ${(error as Error).message}`;
    // A caller's SQL (pg_llm_estimate's) may write out a secret, which the parser's words may quote.
    if (mayHoldSecret(sql)) throw secretSyntaxError(message);
    throw new PgError('42601', message, { detail: excerpt(sql) });
  }
  if (statements.length === 0) throw new PgError('42601', `${rules.source} holds no SQL statement`, { detail: excerpt(sql) });
  refuseBackslashInPlainString(sql, rules);
  if (statements.length > 1) {
    throw refused(rules, `${rules.source} holds ${statements.length} statements, and only one is allowed`, 'One statement runs alone: nothing may follow it.');
  }
  const { node, text } = statements[0]!;
  const [type, body] = Object.entries(node)[0] as [string, Record<string, unknown>];
  const kind = kindOf(type, body);
  const command = commandName(type, body, kind);
  const warnings: string[] = [];
  if (kind === 'utility') throw refused(rules, `${rules.source} is a ${command} statement, which is not allowed here`);
  if (kind === 'dml' || kind === 'ddl') {
    const allowance = rules[kind];
    const what = kind === 'dml' ? 'changes data' : 'changes the schema';
    if (allowance === 'refuse') throw refused(rules, `${rules.source} is a ${command} statement, which ${what} and is not allowed here`);
    if (allowance === 'warn') warnings.push(`This ${command} statement ${what}: review it before running it.`);
  }
  const calls = interceptedCalls(node);
  if (calls.length > 0 && !rules.proxyCalls) {
    throw new PgError('38001', `${rules.source} calls LLM functions of the proxy, which it may not`, { hint: 'Generated SQL runs inside the database, where the LLM functions cannot run.' });
  }
  const refusal = await unsafeReach(context, { node, text }, { systemSchemas: rules.systemTables ? undefined : SYSTEM_SCHEMAS, runs: rules.runs, stubs: stubBodies(calls.flat()) });
  if (refusal) throw refusalError(rules, refusal);
  const limitAdded = rules.limit !== undefined && type === 'SelectStmt' && kind === 'query' && body.limitCount === undefined;
  return { sql: limitAdded ? withLimit(text, rules.limit!) : text, kind, command, warnings, limitAdded, parameters: refersToParameters(node) };
}

function kindOf(type: string, body: Record<string, unknown>): StatementKind {
  if (type === 'SelectStmt') return body.intoClause ? 'ddl' : containsDataChange(body) ? 'dml' : 'query';
  if (DATA_CHANGES.has(type)) return 'dml';
  return SCHEMA_CHANGES.test(type) ? 'ddl' : 'utility';
}

function refersToParameters(node: unknown): boolean {
  if (Array.isArray(node)) return node.some(refersToParameters);
  if (node === null || typeof node !== 'object') return false;
  return Object.entries(node).some(([key, value]) => key === 'ParamRef' || refersToParameters(value));
}

/** A data-modifying WITH (`WITH d AS (DELETE …) SELECT …`) changes data though it is a SELECT. */
function containsDataChange(node: unknown): boolean {
  if (Array.isArray(node)) return node.some(containsDataChange);
  if (node === null || typeof node !== 'object') return false;
  return Object.entries(node).some(([key, value]) => DATA_CHANGES.has(key) || containsDataChange(value));
}

function commandName(type: string, body: Record<string, unknown>, kind: StatementKind): string {
  if (type === 'SelectStmt') return kind === 'dml' ? 'data-modifying WITH' : body.intoClause ? 'SELECT INTO' : 'SELECT';
  return COMMAND_NAMES[type] ?? type.replace(/Stmt$/, '').replace(/([a-z])([A-Z])/g, '$1 $2').toUpperCase();
}

/** On a line of its own when the statement ends in a comment, so the comment cannot swallow it. */
function withLimit(text: string, limit: number): string {
  const lastLine = text.slice(text.lastIndexOf('\n') + 1);
  return `${text}${lastLine.includes('--') ? '\n' : ' '}LIMIT ${limit}`;
}

/** Past this, SQL with a backslash is refused without a scan, on the event loop every session shares, to find where. */
const SCANNED_CHARACTERS = 64 * 1024;
/** A plain string constant's token ('…', N'…'), which standard_conforming_strings decides how to read. */
const PLAIN_STRING = /^[nN]?'/;

/**
 * Refuses SQL with a backslash in a plain string constant. The check reads '…' as standard_conforming_strings = on
 * has it, and SQL handed back runs under the caller's setting: with it off, `select 'a\'';drop table t;--'` is two
 * statements, the second unjudged (review L2).
 */
function refuseBackslashInPlainString(sql: string, rules: SqlRules): void {
  if (!sql.includes('\\')) return;
  if (sql.length <= SCANNED_CHARACTERS && !scanSync(sql).tokens.some((token) => PLAIN_STRING.test(token.text) && token.text.includes('\\'))) return;
  throw refused(rules, `${rules.source} has a backslash in a '…' string, which a session with standard_conforming_strings off reads otherwise`, "Write such a string as E'…', its backslashes doubled.");
}

function refused(rules: SqlRules, message: string, why?: string): PgError {
  return new PgError('38003', message, { hint: [why, rules.rulesHint].filter(Boolean).join(' ') });
}

const HARMLESS_ONLY = 'Only functions PostgreSQL marks STABLE or IMMUTABLE (and random(), gen_random_uuid(), clock_timestamp()) may run here, since the effects of the others can outlast the rollback or be seen by other sessions.';

function refusalError(rules: SqlRules, refusal: Refusal): PgError {
  const [what, hint] = refusalDescription(refusal, rules.rulesHint);
  if ('trustLeftOut' in refusal && refusal.trustLeftOut) {
    // Whoever set the setting in the client's place would have the caller trust it.
    return new PgError('42501', `${rules.source} ${what}: pg_llm.trusted_owners was not set by this session's client, and a view or function of another role may have set it`, {
      hint: 'SET pg_llm.trusted_owners in the session if you trust the roles it names; ALTER ROLE … SET counts too.',
    });
  }
  return new PgError('38001', `${rules.source} ${what}, which is not allowed here`, { hint });
}

/**
 * What a statement does that the refusal is for ("reaches view v, owned by bob, who …"), and the hint; `rulesHint`
 * says how the caller can change the rules.
 */
export function refusalDescription(refusal: Refusal, rulesHint: string): [string, string] {
  const name = `${refusal.name}${['system', 'identity', 'foreign', 'owner', 'path', 'schema', 'temporary'].includes(refusal.reason) ? '' : '()'}${refusal.via ? ` (through ${refusal.via})` : ''}`;
  switch (refusal.reason) {
    case 'volatile':
      return [`calls ${name}, a volatile function, whose effects no rollback undoes`, HARMLESS_ONLY];
    case 'seen-elsewhere':
      return [`calls ${name}, which gives the transaction an id other sessions see and no rollback frees`, 'A transaction id shows in pg_locks and pg_stat_activity to every role.'];
    case 'type-code':
      return [`calls ${name}, which runs the code of a type named by a value these checks never see`, 'Cast the value to the type instead (value::type), which these checks follow.'];
    case 'runs-sql-text':
      return [`calls ${name}, which runs SQL (or reads a table) named in a value these checks never see`, 'Write the query itself instead of a function that runs one given as text.'];
    case 'language':
      return [`calls ${name}, a function in ${refusal.language}, whose body cannot be checked`, 'Only built-in functions and SQL functions (whose bodies are checked in turn) may run here.'];
    case 'settings':
      return [`calls ${name}, which sets configuration parameters of its own`, 'A function with a SET clause resolves names in ways these checks cannot follow.'];
    case 'identity':
      return [`fills the identity column ${name}, whose sequence no rollback sets back`, 'Give the column a value of its own in the statement.'];
    case 'system':
      return [`reads ${name}, a system catalog`, `Only the database's own tables may be used. ${rulesHint}`];
    case 'foreign':
      return [`uses ${name}, a foreign table, whose rows a foreign-data wrapper reads and writes (on another server, in a file or a program) out of these checks' sight`, `Only the database's own tables may be used here: copy the rows into a local table to use them.`];
    case 'system-rows':
      return [`calls ${name}, which returns rows of a system catalog`, `Only the database's own tables may be used. ${rulesHint}`];
    case 'temporary':
      return [
        `reaches ${name}, a temporary object (with code of its own, or in place of a table of that name), which any function your session ran, another role's too, could have made`,
        'Name your own table or function with its schema, so that a temporary object of the same name is not found first; or make the call in a new session.',
      ];
    case 'owner':
      return [
        `reaches ${name}, owned by ${refusal.owner}, who may change it between this check and the run`,
        `Only objects of the current role, of superusers, of the pg_llm catalog's owner and of the roles named in pg_llm.trusted_owners may be reached here: another role's function, view, table or type could run its code with your rights. If you trust ${refusal.owner} not to, SET pg_llm.trusted_owners = '${refusal.owner}'.`,
      ];
    case 'path':
    case 'schema': {
      const trust = refusal.owner === 'PUBLIC' ? '' : `; if you trust ${refusal.owner}, SET pg_llm.trusted_owners = '${refusal.owner}'`;
      const where = refusal.reason === 'path' ? `runs with the schema ${refusal.name} on its search_path` : `names the schema ${name}`;
      const what = refusal.reason === 'path' ? "a function or operator made there after this check could run in place of PostgreSQL's own" : 'a function, operator, type or table made there after this check could run in place of what it saw';
      if (refusal.missing) {
        return [
          `${where}, which does not exist and ${refusal.owner} may create: ${what}`,
          `${refusal.reason === 'path' ? `Take ${refusal.name} off search_path` : 'Name only schemas that exist'}, or create the schema yourself, or revoke CREATE on this database from ${refusal.owner}${trust}.`,
        ];
      }
      if (/^pg_temp_\d+$/.test(refusal.name)) {
        // Another session's temporary schema: whoever may make temporary tables may create there, whoever owns it.
        return [
          `${where}, another session's temporary schema, where ${refusal.owner} may create objects: ${what}`,
          `${refusal.reason === 'path' ? `Take ${refusal.name} off search_path` : `Name pg_temp (your session's own) instead of ${refusal.name}`}, or revoke TEMPORARY on this database from ${refusal.owner}${trust}.`,
        ];
      }
      return [
        `${where}, where ${refusal.owner} may create objects: ${what}`,
        refusal.reason === 'path'
          ? `Take ${refusal.name} off search_path, or REVOKE CREATE ON SCHEMA ${refusal.name} FROM ${refusal.owner} (PostgreSQL 15 and later grant none on public)${trust}.`
          : `Name only schemas where the roles you trust create, or REVOKE CREATE ON SCHEMA ${refusal.name} FROM ${refusal.owner}${trust}.`,
      ];
    }
    case 'server-state':
      return [`calls ${name}, which reads the server's own state (its settings, sessions or statistics) as a system view does`, `Only the database's own tables may be used. ${rulesHint}`];
  }
}

/** Enough of a statement to recognize it in an error's detail. */
function excerpt(sql: string): string {
  return sql.length > 500 ? `${sql.slice(0, 500)}…` : sql;
}
