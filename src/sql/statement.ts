// Holds SQL that a model wrote (or a caller handed to explain_query) to the rules of the function about to use it,
// with PostgreSQL's own parser rather than text matching: exactly one statement (so nothing like `COMMIT; DROP …`
// can ride along), of a kind the function allows, no system catalogs unless allowed, no calls of the proxy's own
// functions, no calls of functions whose effects a rollback cannot undo; and a LIMIT added to a SELECT that has none
// where the function asks for one. PostgreSQL's privileges
// stay the security boundary (the SQL only ever runs with the caller's rights): these rules keep a model on the
// caller's own tables and away from statements the function must not run or hand back unflagged.

import type { CallContext } from '../../functions/declaration.js';
import { PgError } from '../../proxy/pg-error.js';
import { countCalls } from '../intercept/analyze.js';
import { parseStatements, type ParsedStatement } from './parse.js';

/** query: reads only (SELECT, VALUES, TABLE); dml: changes rows; ddl: changes the schema or privileges; utility: the rest. */
export type StatementKind = 'query' | 'dml' | 'ddl' | 'utility';

/** allow: as it is; warn: allowed, with a warning for the caller; refuse: 38003. */
export type Allowance = 'allow' | 'warn' | 'refuse';

export interface SqlRules {
  dml: Allowance;
  ddl: Allowance;
  /** Relations in pg_catalog, information_schema, pg_toast or the proxy's own catalog. */
  systemTables: boolean;
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

/**
 * Built-in (and common extension) functions whose effects reach past the statement's rollback: other sessions, the
 * server, files, sequences, session-level locks, remote databases. The SQL runs rolled back and read-only, but these
 * would act anyway.
 */
const LASTING_EFFECTS =
  /^(pg_(terminate|cancel)_backend|pg_reload_conf|pg_rotate_logfile|pg_promote|pg_switch_wal|pg_create_restore_point|pg_backup_(start|stop)|pg_log_backend_memory_contexts|pg_(try_)?advisory_(?!xact_)\w*|nextval|setval|pg_read_(binary_)?file|pg_ls_\w+|pg_stat_file|pg_file_\w+|lo_(import|export)|dblink\w*|pg_stat_(statements_)?reset\w*|pg_(create|drop|copy)_\w*slot|pg_replication_\w+|pg_logical_emit_message|pg_import_system_collations)$/;

export async function checkSql(context: CallContext, sql: string, rules: SqlRules): Promise<CheckedSql> {
  let statements: ParsedStatement[];
  try {
    statements = await parseStatements(sql);
  } catch (error) {
    throw new PgError('42601', `${rules.source} is not valid SQL: ${(error as Error).message}`, { detail: excerpt(sql) });
  }
  if (statements.length === 0) throw new PgError('42601', `${rules.source} holds no SQL statement`, { detail: excerpt(sql) });
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
  if (countCalls(node) > 0) {
    throw new PgError('38001', `${rules.source} calls LLM functions of the proxy, which it may not`, { hint: 'Generated SQL runs inside the database, where the LLM functions cannot run.' });
  }
  const lasting = functionNames(node).find((name) => LASTING_EFFECTS.test(name));
  if (lasting) {
    throw new PgError('38001', `${rules.source} calls ${lasting}(), whose effects no rollback undoes, which is not allowed here`, {
      hint: 'Only statements whose effects stay inside the statement (and are rolled back) may run here.',
    });
  }
  if (!rules.systemTables) await refuseSystemTables(context, node, rules);
  const limitAdded = rules.limit !== undefined && type === 'SelectStmt' && kind === 'query' && body.limitCount === undefined;
  return { sql: limitAdded ? withLimit(text, rules.limit!) : text, kind, command, warnings, limitAdded };
}

function kindOf(type: string, body: Record<string, unknown>): StatementKind {
  if (type === 'SelectStmt') return body.intoClause ? 'ddl' : containsDataChange(body) ? 'dml' : 'query';
  if (DATA_CHANGES.has(type)) return 'dml';
  return SCHEMA_CHANGES.test(type) ? 'ddl' : 'utility';
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

/**
 * Refuses a relation of a system schema, named with it or resolved to it through the caller's search_path (where
 * pg_catalog comes first unless it is placed later). Every unqualified name is resolved, even one a CTE also
 * defines, since the CTE's scope may not cover every place the name is used.
 */
async function refuseSystemTables(context: CallContext, node: Record<string, unknown>, rules: SqlRules): Promise<void> {
  const relations = relationsOf(node);
  const named = relations.find((relation) => relation.schemaname !== undefined && SYSTEM_SCHEMAS.includes(relation.schemaname));
  if (named) throw systemTable(rules, `${named.schemaname}.${named.relname}`);
  const unqualified = [...new Set(relations.filter((relation) => relation.schemaname === undefined).map((relation) => relation.relname))];
  if (unqualified.length === 0) return;
  const [found] = await context.query(
    `SELECT n.nspname || '.' || c.relname AS name
       FROM jsonb_array_elements_text($1::jsonb) AS t(name)
       JOIN pg_class c ON c.oid = to_regclass(quote_ident(t.name))
       JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = ANY ($2::text[])
      LIMIT 1`,
    [JSON.stringify(unqualified), `{${SYSTEM_SCHEMAS.join(',')}}`],
  );
  if (found) throw systemTable(rules, found.name!);
}

interface RelationName {
  schemaname?: string;
  relname: string;
}

/** Every relation the statement names: RangeVar nodes, and the bare range variables DML targets and INTO use. */
function relationsOf(node: unknown, found: RelationName[] = []): RelationName[] {
  if (Array.isArray(node)) {
    for (const item of node) relationsOf(item, found);
  } else if (node !== null && typeof node === 'object') {
    const record = node as Record<string, unknown>;
    if (typeof record.relname === 'string') found.push(record as unknown as RelationName);
    for (const value of Object.values(record)) relationsOf(value, found);
  }
  return found;
}

/** The (unqualified, lower-case) names of the functions the statement calls. */
function functionNames(node: unknown, found: string[] = []): string[] {
  if (Array.isArray(node)) {
    for (const item of node) functionNames(item, found);
  } else if (node !== null && typeof node === 'object') {
    const record = node as Record<string, unknown>;
    const call = record.FuncCall as { funcname?: Array<{ String?: { sval: string } }> } | undefined;
    const name = call?.funcname?.at(-1)?.String?.sval;
    if (name) found.push(name.toLowerCase());
    for (const value of Object.values(record)) functionNames(value, found);
  }
  return found;
}

/** On a line of its own when the statement ends in a comment, so the comment cannot swallow it. */
function withLimit(text: string, limit: number): string {
  const lastLine = text.slice(text.lastIndexOf('\n') + 1);
  return `${text}${lastLine.includes('--') ? '\n' : ' '}LIMIT ${limit}`;
}

function refused(rules: SqlRules, message: string, why?: string): PgError {
  return new PgError('38003', message, { hint: [why, rules.rulesHint].filter(Boolean).join(' ') });
}

function systemTable(rules: SqlRules, name: string): PgError {
  return new PgError('38001', `${rules.source} reads ${name}, a system catalog, which is not allowed here`, {
    hint: `Only the database's own tables may be used. ${rules.rulesHint}`,
  });
}

/** Enough of a statement to recognize it in an error's detail. */
function excerpt(sql: string): string {
  return sql.length > 500 ? `${sql.slice(0, 500)}…` : sql;
}
