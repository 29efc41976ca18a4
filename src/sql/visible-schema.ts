// The tables and views the caller can query, read from the catalogs in the caller's own session with its role, so
// PostgreSQL's privileges decide: a relation is visible when its schema grants USAGE and some column grants SELECT,
// and only the columns that grant SELECT are listed. System schemas, temporary schemas and the proxy's own catalog
// are never shown. A foreign key is listed only when the table it references is visible too.

import type { CallContext } from '../../functions/declaration.js';

export interface TableSummary {
  table_name: string;
  schema_name: string;
  table_type: string;
  estimated_rows: number;
  table_size: string;
}

export interface ColumnDetails {
  column_name: string;
  data_type: string;
  is_nullable: boolean;
  column_default: string | null;
  character_maximum_length: number | null;
  numeric_precision: number | null;
  is_primary_key: boolean;
  is_unique: boolean;
  comment: string | null;
}

export interface ForeignKey {
  constraint_name: string;
  column_names: string[];
  foreign_schema: string;
  foreign_table: string;
  foreign_column_names: string[];
  on_update: string;
  on_delete: string;
}

export interface TableDetails extends TableSummary {
  /** Set when the result's size cap was reached before this table: only its summary is here, the lists are empty. */
  not_described?: true;
  comment: string | null;
  columns: ColumnDetails[];
  constraints: Array<{ constraint_name: string; constraint_type: string; column_names: string[]; definition: string }>;
  foreign_keys: ForeignKey[];
  indexes: Array<{ index_name: string; columns: string[]; is_unique: boolean; is_primary: boolean; definition: string }>;
}

/**
 * Catalog text is written by whoever owns the object, and any role can comment its own table with 150 MB and grant
 * SELECT on it to PUBLIC: every other role's session would load it. So comments and definitions are cut in SQL, and
 * the whole answer is capped: past MAX_DETAILED_BYTES of JSON tables come with their summary only, and past
 * MAX_TABLES not at all. A model is shown 30,000 characters of schema (schema-context.ts), so nothing useful is lost.
 */
const COMMENT_CHARS = 1_000;
const DEFINITION_CHARS = 2_000;
const MAX_DETAILED_BYTES = 2_000_000;
const MAX_TABLES = 10_000;

const cut = (text: string, chars: number) => `pg_catalog.left(${text}, ${chars})`;

// Runs in the caller's session, under the caller's search_path: every function, operator, relation and type is named
// with its schema (a simple CASE compares with "=" too, so CASEs are written out), or another role's public.= or
// public.jsonb would be picked where it matches better than pg_catalog's, and run with the caller's rights. Naming
// them is what keeps the caller's session as it is: a SET of a safe search_path around the query would have to be
// undone on every path out, while other calls of the same statement share the session.
//
// The proxy's own schemas (its catalog, and llm with the enrichment queue) are not the user's data: left out. So are
// foreign tables: model-written SQL may not read them (function-check.ts), so showing them would only invite a
// refusal.
const visible = (beside = '') => `
  FROM ${beside}pg_catalog.pg_class c
  JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
 WHERE c.relkind OPERATOR(pg_catalog.=) ANY (ARRAY['r', 'p', 'v', 'm']::pg_catalog."char"[]) AND NOT c.relispartition
   AND n.nspname OPERATOR(pg_catalog.<>) ALL (ARRAY['pg_catalog', 'information_schema', '_pg_llm_catalog', 'llm']::pg_catalog.name[])
   AND n.nspname OPERATOR(pg_catalog.!~) '^pg_(toast|temp_)'
   AND pg_catalog.has_schema_privilege(n.oid, 'USAGE') AND pg_catalog.has_any_column_privilege(c.oid, 'SELECT')`;

/**
 * A relation's size with its TOAST table and indexes, as of its last VACUUM or ANALYZE (as estimated_rows is), from
 * pg_class: pg_total_relation_size() would take a lock on every relation visible, so that any role holding one of its
 * own tables (granted to PUBLIC) locked would hold up every other role's schema for as long as it liked.
 */
const SIZE = `(c.relpages::pg_catalog.int8
    OPERATOR(pg_catalog.+) coalesce((SELECT t.relpages FROM pg_catalog.pg_class t WHERE t.oid OPERATOR(pg_catalog.=) c.reltoastrelid), 0)
    OPERATOR(pg_catalog.+) coalesce((SELECT pg_catalog.sum(i.relpages) FROM pg_catalog.pg_index x JOIN pg_catalog.pg_class i ON i.oid OPERATOR(pg_catalog.=) x.indexrelid
                                      WHERE x.indrelid OPERATOR(pg_catalog.=) c.oid), 0))
  OPERATOR(pg_catalog.*) pg_catalog.current_setting('block_size')::pg_catalog.int8`;

const SUMMARY = `
  'table_name', c.relname,
  'schema_name', n.nspname,
  'table_type', CASE WHEN c.relkind OPERATOR(pg_catalog.=) 'v' THEN 'VIEW' WHEN c.relkind OPERATOR(pg_catalog.=) 'm' THEN 'MATERIALIZED VIEW' ELSE 'BASE TABLE' END,
  'estimated_rows', CASE WHEN c.reltuples OPERATOR(pg_catalog.>=) 0 THEN c.reltuples::pg_catalog.int8
                         ELSE coalesce((SELECT s.n_live_tup FROM pg_catalog.pg_stat_user_tables s WHERE s.relid OPERATOR(pg_catalog.=) c.oid), 0) END,
  'table_size', pg_catalog.pg_size_pretty(${SIZE})`;

/** The names of a constraint's or key's columns, in its order. */
const KEY_COLUMNS = (keys: string, relation: string) =>
  `(SELECT coalesce(pg_catalog.json_agg(a.attname ORDER BY k.ord), '[]') FROM pg_catalog.unnest(${keys}) WITH ORDINALITY AS k(attnum, ord)
     JOIN pg_catalog.pg_attribute a ON a.attrelid OPERATOR(pg_catalog.=) ${relation} AND a.attnum OPERATOR(pg_catalog.=) k.attnum)`;

const FK_ACTION = (column: string) =>
  `CASE ${[['a', 'NO ACTION'], ['r', 'RESTRICT'], ['c', 'CASCADE'], ['n', 'SET NULL']].map(([code, action]) => `WHEN ${column} OPERATOR(pg_catalog.=) '${code}' THEN '${action}'`).join(' ')} ELSE 'SET DEFAULT' END`;

const DETAILS = `${SUMMARY},
  'comment', ${cut(`pg_catalog.obj_description(c.oid, 'pg_class')`, COMMENT_CHARS)},
  'columns', (
    SELECT coalesce(pg_catalog.json_agg(pg_catalog.json_build_object(
             'column_name', a.attname,
             'data_type', pg_catalog.format_type(a.atttypid, a.atttypmod),
             'is_nullable', NOT a.attnotnull,
             'column_default', ${cut('pg_catalog.pg_get_expr(d.adbin, d.adrelid)', DEFINITION_CHARS)},
             'character_maximum_length', information_schema._pg_char_max_length(a.atttypid, a.atttypmod),
             'numeric_precision', information_schema._pg_numeric_precision(a.atttypid, a.atttypmod),
             'is_primary_key', EXISTS (SELECT FROM pg_catalog.pg_constraint k WHERE k.conrelid OPERATOR(pg_catalog.=) c.oid AND k.contype OPERATOR(pg_catalog.=) 'p' AND a.attnum OPERATOR(pg_catalog.=) ANY (k.conkey)),
             'is_unique', EXISTS (SELECT FROM pg_catalog.pg_index x WHERE x.indrelid OPERATOR(pg_catalog.=) c.oid AND x.indisunique AND x.indnkeyatts OPERATOR(pg_catalog.=) 1 AND x.indkey[0] OPERATOR(pg_catalog.=) a.attnum AND x.indpred IS NULL),
             'comment', ${cut('pg_catalog.col_description(c.oid, a.attnum)', COMMENT_CHARS)}
           ) ORDER BY a.attnum), '[]')
      FROM pg_catalog.pg_attribute a
      LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid OPERATOR(pg_catalog.=) a.attrelid AND d.adnum OPERATOR(pg_catalog.=) a.attnum
     WHERE a.attrelid OPERATOR(pg_catalog.=) c.oid AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped AND pg_catalog.has_column_privilege(c.oid, a.attnum, 'SELECT')),
  'constraints', (
    SELECT coalesce(pg_catalog.json_agg(pg_catalog.json_build_object(
             'constraint_name', k.conname,
             'constraint_type', CASE WHEN k.contype OPERATOR(pg_catalog.=) 'p' THEN 'PRIMARY KEY' WHEN k.contype OPERATOR(pg_catalog.=) 'u' THEN 'UNIQUE'
                                    WHEN k.contype OPERATOR(pg_catalog.=) 'f' THEN 'FOREIGN KEY' WHEN k.contype OPERATOR(pg_catalog.=) 'c' THEN 'CHECK'
                                    WHEN k.contype OPERATOR(pg_catalog.=) 'x' THEN 'EXCLUDE' ELSE k.contype::pg_catalog.text END,
             'column_names', ${KEY_COLUMNS('k.conkey', 'c.oid')},
             'definition', ${cut('pg_catalog.pg_get_constraintdef(k.oid)', DEFINITION_CHARS)}
           ) ORDER BY k.conname), '[]')
      FROM pg_catalog.pg_constraint k WHERE k.conrelid OPERATOR(pg_catalog.=) c.oid),
  'foreign_keys', (
    SELECT coalesce(pg_catalog.json_agg(pg_catalog.json_build_object(
             'constraint_name', k.conname,
             'column_names', ${KEY_COLUMNS('k.conkey', 'c.oid')},
             'foreign_schema', fn.nspname,
             'foreign_table', f.relname,
             'foreign_column_names', ${KEY_COLUMNS('k.confkey', 'f.oid')},
             'on_update', ${FK_ACTION('k.confupdtype')},
             'on_delete', ${FK_ACTION('k.confdeltype')}
           ) ORDER BY k.conname), '[]')
      FROM pg_catalog.pg_constraint k
      JOIN pg_catalog.pg_class f ON f.oid OPERATOR(pg_catalog.=) k.confrelid
      JOIN pg_catalog.pg_namespace fn ON fn.oid OPERATOR(pg_catalog.=) f.relnamespace
     WHERE k.conrelid OPERATOR(pg_catalog.=) c.oid AND k.contype OPERATOR(pg_catalog.=) 'f'
       AND pg_catalog.has_schema_privilege(fn.oid, 'USAGE') AND pg_catalog.has_any_column_privilege(f.oid, 'SELECT')),
  'indexes', (
    SELECT coalesce(pg_catalog.json_agg(pg_catalog.json_build_object(
             'index_name', i.relname,
             'columns', (SELECT pg_catalog.json_agg(${cut('pg_catalog.pg_get_indexdef(x.indexrelid, k, true)', DEFINITION_CHARS)} ORDER BY k) FROM pg_catalog.generate_series(1, x.indnkeyatts) AS k),
             'is_unique', x.indisunique,
             'is_primary', x.indisprimary,
             'definition', ${cut('pg_catalog.pg_get_indexdef(x.indexrelid)', DEFINITION_CHARS)}
           ) ORDER BY i.relname), '[]')
      FROM pg_catalog.pg_index x JOIN pg_catalog.pg_class i ON i.oid OPERATOR(pg_catalog.=) x.indexrelid WHERE x.indrelid OPERATOR(pg_catalog.=) c.oid)`;

/** get_database_tables' rows. */
export async function listTables(context: CallContext): Promise<TableSummary[]> {
  const [row] = await context.query(`SELECT coalesce(pg_catalog.json_agg(pg_catalog.json_build_object(${SUMMARY}) ORDER BY n.nspname, c.relname), '[]') AS tables ${visible()}`);
  return JSON.parse(row!.tables!) as TableSummary[];
}

/**
 * The relations another session holds, or waits for, an ACCESS EXCLUSIVE lock on. Deparsing a relation's defaults,
 * constraints and indexes (pg_get_expr, pg_get_constraintdef, pg_get_indexdef) takes a lock on it, which waits behind
 * that one: a role holding a table of its own (granted to PUBLIC) locked held every other role's text2sql and
 * generate_query for as long as it liked (review K2). Such a table is given with its summary only. pg_locks is read
 * once, before: a lock taken after it is waited for, as long as its holder keeps it, which no role can count on.
 */
const LOCKED = `(SELECT coalesce(pg_catalog.array_agg(l.relation), '{}'::pg_catalog.oid[]) FROM pg_catalog.pg_locks l
   WHERE l.locktype OPERATOR(pg_catalog.=) 'relation' AND l.mode OPERATOR(pg_catalog.=) 'AccessExclusiveLock'
     AND coalesce(l.pid, 0) OPERATOR(pg_catalog.<>) pg_catalog.pg_backend_pid()
     AND l.database OPERATOR(pg_catalog.=) (SELECT d.oid FROM pg_catalog.pg_database d WHERE d.datname OPERATOR(pg_catalog.=) pg_catalog.current_database()))`;

/** Whether the relation or one of its indexes is locked (LOCKED, as `locked`). */
const IS_LOCKED = `(c.oid OPERATOR(pg_catalog.=) ANY (locked.relations) OR EXISTS (SELECT FROM pg_catalog.pg_index x
   WHERE x.indrelid OPERATOR(pg_catalog.=) c.oid AND x.indexrelid OPERATOR(pg_catalog.=) ANY (locked.relations)))`;

/** A table past the size cap, or locked: its summary, marked, with empty lists. */
const NOT_DESCRIBED = `${SUMMARY}, 'not_described', true, 'comment', NULL, 'columns', '[]'::pg_catalog.json, 'constraints', '[]'::pg_catalog.json,
  'foreign_keys', '[]'::pg_catalog.json, 'indexes', '[]'::pg_catalog.json`;

/**
 * Every visible relation in detail, or the one named (none when it does not exist or is not visible), in name order
 * up to the size cap; a locked one (LOCKED) with its summary only.
 */
export async function describeTables(context: CallContext, only?: { schema: string; table: string }): Promise<TableDetails[]> {
  const [row] = await context.query(
    `SELECT coalesce(pg_catalog.json_agg(CASE WHEN details IS NOT NULL AND bytes OPERATOR(pg_catalog.<=) ${MAX_DETAILED_BYTES} THEN details ELSE summary END ORDER BY position), '[]') AS tables
       FROM (SELECT details, summary, pg_catalog.row_number() OVER w AS position, pg_catalog.sum(pg_catalog.octet_length(details::pg_catalog.text)) OVER w AS bytes
               FROM (SELECT n.nspname, c.relname, CASE WHEN NOT ${IS_LOCKED} THEN pg_catalog.json_build_object(${DETAILS}) END AS details,
                            pg_catalog.json_build_object(${NOT_DESCRIBED}) AS summary
                       ${visible(`(SELECT ${LOCKED} AS relations) locked, `)}
                       ${only ? 'AND n.nspname OPERATOR(pg_catalog.=) $1 AND c.relname OPERATOR(pg_catalog.=) $2' : ''}) relations
             WINDOW w AS (ORDER BY nspname, relname)) sized
      WHERE position OPERATOR(pg_catalog.<=) ${MAX_TABLES}`,
    only ? [only.schema, only.table] : [],
  );
  return JSON.parse(row!.tables!) as TableDetails[];
}
