// The schema a model is shown to write SQL against: the caller's visible tables (visible-schema.ts) written as
// CREATE TABLE statements with keys, foreign keys and comments, the tables the question names first, up to a size
// budget beyond which the rest are only named.
//
// Kept per session and reused while a fingerprint of the catalogs stays the same. The fingerprint is one cheap
// query per call: the role, and the row count and sum of xmin of each catalog the context is built from. Any DDL,
// GRANT/REVOKE, COMMENT or role membership change inserts, updates or deletes rows there, which changes both (xmin
// is the writing transaction's, so the caller's own uncommitted DDL counts, and a rollback brings the old value
// back). VACUUM and ANALYZE update pg_class in place and keep xmin, so they do not invalidate; freezing does, which
// only costs a rebuild. An event trigger would need superuser, and PostgreSQL has no catalog version a session
// can read, so this is the cheapest check that cannot serve a stale schema.

import { scanSync } from './parser.js';
import type { CallContext } from '../../functions/declaration.js';
import { describeTables, type TableDetails } from './visible-schema.js';
import { wordsOf } from './words.js';

const CACHE_KEY = 'schema-context';
/** Characters of schema written out in full; a schema larger than this lists its remaining tables by name. */
const BUDGET_CHARS = 30_000;
/** Characters of the names of tables not written out. */
const NAMES_BUDGET_CHARS = 5_000;

const FINGERPRINTED = ['pg_class', 'pg_attribute', 'pg_constraint', 'pg_namespace', 'pg_description', 'pg_auth_members'];
const FINGERPRINT_SQL = `SELECT pg_catalog.md5(pg_catalog.concat_ws(':', current_user, ${FINGERPRINTED.map(
  (catalog) => `(SELECT pg_catalog.count(*) OPERATOR(pg_catalog.||) '.' OPERATOR(pg_catalog.||) coalesce(pg_catalog.sum(xmin::pg_catalog.text::bigint), 0) FROM pg_catalog.${catalog})`,
).join(', ')})) AS fingerprint`;

interface Cached {
  fingerprint: string;
  tables: TableDetails[];
}

/** The caller's visible tables, from the session's cache while the catalogs have not changed. */
export async function visibleTables(context: CallContext): Promise<TableDetails[]> {
  const [{ fingerprint }] = (await context.query(FINGERPRINT_SQL)) as [{ fingerprint: string }];
  const cached = context.sessionCache.get(CACHE_KEY) as Cached | undefined;
  if (cached?.fingerprint === fingerprint) return cached.tables;
  const tables = await describeTables(context);
  context.sessionCache.set(CACHE_KEY, { fingerprint, tables } satisfies Cached);
  return tables;
}

/** The schema as a model reads it best: DDL, the tables the question mentions first. */
export function schemaText(tables: TableDetails[], question: string): string {
  if (tables.length === 0) return '-- The current role can read no tables.';
  const words = wordsOf(question);
  const mentioned = (table: TableDetails) => words.has(table.table_name.toLowerCase());
  const ordered = [...tables.filter(mentioned), ...tables.filter((table) => !mentioned(table))];
  const parts: string[] = [];
  const named: TableDetails[] = [];
  let size = 0;
  for (const table of ordered) {
    if (table.not_described || size >= BUDGET_CHARS) {
      named.push(table);
      continue;
    }
    const ddl = tableDdl(table);
    if (size + ddl.length <= BUDGET_CHARS) {
      parts.push(ddl);
      size += ddl.length;
    } else if (parts.length === 0) {
      // The first table, wider than the whole budget on its own: shown as far as the budget goes rather than not at
      // all (it is likely the one asked about), and never whole, whatever its owner wrote into its comments.
      parts.push(cutToBudget(ddl));
      size = BUDGET_CHARS;
    } else {
      // As before: past the first table that does not fit, the rest are only named, in the same order.
      named.push(table);
      size = BUDGET_CHARS;
    }
  }
  if (named.length > 0) parts.push(namesWithin(named));
  return parts.join('\n\n');
}

/** The tables not shown, named up to their own budget (a role may see thousands), then counted. */
function namesWithin(tables: TableDetails[]): string {
  const names: string[] = [];
  let size = 0;
  for (const table of tables) {
    const name = qualified(table);
    if (size + name.length > NAMES_BUDGET_CHARS) break;
    names.push(name);
    size += name.length + 2;
  }
  const more = tables.length - names.length;
  return `-- Also readable, not shown: ${names.join(', ')}${more > 0 ? `${names.length > 0 ? ', ' : ''}and ${more} more` : ''}`;
}

/** A table's DDL cut at the last whole line within the budget, saying so. */
function cutToBudget(ddl: string): string {
  const lineEnd = ddl.lastIndexOf('\n', BUDGET_CHARS);
  return `${ddl.slice(0, lineEnd > 0 ? lineEnd : BUDGET_CHARS)}\n  -- … more columns and keys, not shown: over the schema's size budget`;
}

interface SchemaInfoTable {
  name?: unknown;
  description?: unknown;
  columns?: Array<{ name?: unknown; type?: unknown }>;
}

/**
 * A caller's own schema (pg_llm's schema_info): pg_llm's JSON, {"tables": [{"name", "description", "columns":
 * [{"name", "type"}]}]}, written as DDL like the catalog's; any other text is shown to the model as it is.
 */
export function schemaInfoText(schemaInfo: string): string {
  let tables: unknown;
  try {
    tables = (JSON.parse(schemaInfo) as { tables?: unknown })?.tables;
  } catch {
    return schemaInfo;
  }
  if (!Array.isArray(tables)) return schemaInfo;
  return (tables as SchemaInfoTable[])
    .filter((table) => typeof table?.name === 'string')
    .map((table) => {
      const columns = (Array.isArray(table.columns) ? table.columns : []).filter((column) => typeof column?.name === 'string' && typeof column.type === 'string');
      const description = typeof table.description === 'string' && table.description ? `-- ${table.description}\n` : '';
      return `${description}CREATE TABLE ${String(table.name)} (\n${columns.map((column) => `  ${String(column.name)} ${String(column.type)}`).join(',\n')}\n);`;
    })
    .join('\n\n');
}

function tableDdl(table: TableDetails): string {
  const header = [`-- ${table.table_type.toLowerCase()} ${qualified(table)}, about ${table.estimated_rows} rows`, table.comment].filter(Boolean).join(': ');
  const lines = table.columns.map((column) => {
    const definition = `  ${ident(column.column_name)} ${column.data_type}${column.is_nullable ? '' : ' NOT NULL'}`;
    return column.comment ? `${definition} /* ${column.comment.replace(/\*\//g, '* /')} */` : definition;
  });
  const visible = new Set(table.columns.map((column) => column.column_name));
  for (const constraint of table.constraints) {
    const keyColumns = constraint.column_names;
    if (!['PRIMARY KEY', 'UNIQUE'].includes(constraint.constraint_type) || !keyColumns.every((name) => visible.has(name))) continue;
    lines.push(`  ${constraint.constraint_type} (${keyColumns.map(ident).join(', ')})`);
  }
  for (const key of table.foreign_keys) {
    if (!key.column_names.every((name) => visible.has(name))) continue;
    lines.push(`  FOREIGN KEY (${key.column_names.map(ident).join(', ')}) REFERENCES ${ident(key.foreign_schema)}.${ident(key.foreign_table)} (${key.foreign_column_names.map(ident).join(', ')})`);
  }
  return `${header}\nCREATE TABLE ${qualified(table)} (\n${lines.join(',\n')}\n);`;
}

function qualified(table: { schema_name: string; table_name: string }): string {
  return `${ident(table.schema_name)}.${ident(table.table_name)}`;
}

/** Quoted where PostgreSQL needs it (as quote_ident does), so the model copies names that work. */
function ident(name: string): string {
  const plain = /^[a-z_][a-z0-9_$]*$/.test(name) && ['NO_KEYWORD', 'UNRESERVED_KEYWORD'].includes(scanSync(name).tokens[0]?.keywordName ?? '');
  return plain ? name : `"${name.replace(/"/g, '""')}"`;
}
