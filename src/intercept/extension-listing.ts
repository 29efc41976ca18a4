// psql's \dx lists pg_extension, where the extensions the proxy installs (pg_llm, ai) cannot stand: a row there
// needs the extension's files on the server. So psql's listing query, and only it (recognised by its shape), is
// sent on with pg_extension and pg_description read through subqueries that add a row for each extension of
// _pg_llm_catalog.pg_llm_extensions. Other reads of pg_extension are left alone: pg_dump, for one, must not dump a
// CREATE EXTENSION that a server without the proxy cannot restore.

import { DEFAULT_SCHEMA, EXTENSION_NAMES, EXTENSIONS, schemaOf, type ExtensionName } from '../../functions/registry.js';
import { packageVersion } from '../package-root.js';
import { sqlLiteral } from '../sql/literal.js';

/** psql's \dx and \dx PATTERN (versions 9.1 to 18): its columns start so, and it reads pg_extension as e. */
const LISTING = /^SELECT e\.extname AS "Name", e\.extversion AS "Version",[^;]*\nFROM pg_catalog\.pg_extension e LEFT JOIN /;
const EXTENSION_TABLE = /\bFROM pg_catalog\.pg_extension e\b/;
const DESCRIPTION_TABLE = /\bLEFT JOIN pg_catalog\.pg_description (\w+) ON\b/;

/** Text every listing query holds: a Query without it is not looked at further. */
export const LISTING_MARKER = 'FROM pg_catalog.pg_extension e LEFT JOIN ';
const MARKER = Buffer.from(LISTING_MARKER, 'latin1');

/** Whether a Query message may be psql's listing (a byte search, as cheap as the function names' check). */
export function mayListExtensions(frame: Buffer): boolean {
  return frame.includes(MARKER);
}

/** Where the rows come from: the catalog of this database. */
export const PROXY_EXTENSIONS_TABLE = '_pg_llm_catalog.pg_llm_extensions';

const DESCRIPTIONS: Record<ExtensionName, string> = {
  pg_llm: 'LLM functions served by the pg_llm proxy: the APIs of pg_llm, pg_ai_query, pg_llm_bgw and postgres-llm',
  ai: "pgai's API, served by the pg_llm proxy",
};

/** psql's listing query with the proxy's extensions merged in; undefined for any other SQL. */
export function withProxyExtensions(sql: string): string | undefined {
  if (!LISTING.test(sql) || !EXTENSION_TABLE.test(sql) || !DESCRIPTION_TABLE.test(sql)) return undefined;
  const columns = 'oid, extname, extowner, extnamespace, extrelocatable, extversion, extconfig, extcondition';
  return `WITH pg_llm_proxy_extensions AS (${proxyRows()}) ${sql
    .replace(EXTENSION_TABLE, `FROM (SELECT ${columns} FROM pg_catalog.pg_extension UNION ALL SELECT ${columns} FROM pg_llm_proxy_extensions) e`)
    .replace(
      DESCRIPTION_TABLE,
      (_, alias: string) =>
        `LEFT JOIN (SELECT objoid, classoid, description FROM pg_catalog.pg_description UNION ALL ` +
        `SELECT oid, 'pg_catalog.pg_extension'::pg_catalog.regclass::pg_catalog.oid, description FROM pg_llm_proxy_extensions) ${alias} ON`,
    )}`;
}

/**
 * A row like pg_extension's for each extension the catalog serves: its schema's oid stands for its own (no row of
 * pg_extension has it), the catalog's owner for its owner, the proxy's version for its version.
 */
function proxyRows(): string {
  // A searched CASE, so that the comparison is pg_catalog's whatever the caller's search_path holds.
  const cases = (values: (name: ExtensionName) => string) =>
    `CASE ${EXTENSION_NAMES.map((name) => `WHEN x.name OPERATOR(pg_catalog.=) ${sqlLiteral(name)} THEN ${values(name)}`).join(' ')} END`;
  return (
    `SELECT n.oid, x.name::pg_catalog.name AS extname, c.nspowner AS extowner, n.oid AS extnamespace, false AS extrelocatable, ` +
    `${sqlLiteral(packageVersion())}::pg_catalog.text AS extversion, NULL::pg_catalog.oid[] AS extconfig, NULL::pg_catalog.text[] AS extcondition, ` +
    `${cases((name) => sqlLiteral(DESCRIPTIONS[name]))} AS description ` +
    `FROM ${PROXY_EXTENSIONS_TABLE} x ` +
    `JOIN pg_catalog.pg_namespace n ON n.nspname OPERATOR(pg_catalog.=) ${cases((name) => sqlLiteral(schemaOfExtension(name)))} ` +
    `JOIN pg_catalog.pg_namespace c ON c.nspname OPERATOR(pg_catalog.=) '_pg_llm_catalog'`
  );
}

/** The schema an extension installs into: its own where its functions have one (ai), else public. */
function schemaOfExtension(name: ExtensionName): string {
  return EXTENSIONS[name].map(schemaOf).find((schema) => schema !== DEFAULT_SCHEMA) ?? DEFAULT_SCHEMA;
}
