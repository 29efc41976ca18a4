// Installs or upgrades the catalog in one database: the numbered files of catalog-migrations/incremental/ are
// applied once each (recorded in _pg_llm_catalog.migrations), then the files of catalog-migrations/idempotent/ and
// the stubs generated from the function declarations are re-applied, model secrets sealed by an earlier version are
// bound to their rows, and credentials it left in their configs are sealed. All of it in one transaction under an
// advisory lock, so concurrent installs queue (for a bounded time, as any role may take that lock and keep it) and
// a failure leaves nothing behind; a lock on a catalog table held by
// another session makes it fail after lock_timeout rather than wait, with every other session's use of that table
// queued behind it.

import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Signature } from '../../functions/declaration.js';
import { DEFAULT_SCHEMA, EXTENSIONS, schemaOf, type ExtensionName } from '../../functions/registry.js';
import { REAL_ARRAY, usesVector, VECTOR } from '../../functions/vector-type.js';
import { PgError, sqlstateOf } from '../../proxy/pg-error.js';
import type { MasterKey } from '../crypto/secrets.js';
import { PACKAGE_ROOT } from '../package-root.js';
import { refuseForeignDependencies, refuseForeignObjects } from './foreign-objects.js';
import { refuseWeakerOwner } from './owner-rights.js';
import { bindUnboundSecrets, oversizedModels, recordMissingReadProofs, type UnusableModel } from './sealed-blobs.js';
import { sealShownCredentials } from './shown-credentials.js';
import { stubSignature, stubSignatures, stubSql } from './stubs.js';

export const CATALOG_SCHEMA = '_pg_llm_catalog';
/** Which extensions (functions/registry.ts) the catalog serves in this database (incremental/0012_extensions.sql). */
const EXTENSIONS_TABLE = `${CATALOG_SCHEMA}.pg_llm_extensions`;
/** postgres-llm's public API: llm.call and llm.queue (catalog-migrations/incremental/0005_llm_queue.sql). */
const LLM_SCHEMA = 'llm';
/**
 * The search_path the install and uninstall run with, as PostgreSQL runs an extension's script: with the installer's
 * own (public first, by default), a function or operator another role put in a schema it may create in would win
 * over pg_catalog's where that needs a cast (an =(oid, regclass) of its own), run as the installer and be bound into
 * the catalog's views for every later reader (review28). Everything the install names outside pg_catalog it
 * qualifies; pgvector's type it finds through pg_extension.
 */
const INSTALL_SEARCH_PATH = 'pg_catalog, pg_temp';
const INCREMENTAL_DIR = path.join(PACKAGE_ROOT, 'catalog-migrations', 'incremental');
const IDEMPOTENT_DIR = path.join(PACKAGE_ROOT, 'catalog-migrations', 'idempotent');
/** Objects of an extension besides its functions (pgai's vectorizer views): <name>.sql installs, <name>-drop.sql drops. */
const EXTENSIONS_DIR = path.join(PACKAGE_ROOT, 'catalog-migrations', 'extensions');
const NUMBERED = /^(\d{3,4})_[a-z0-9_]+\.sql$/;
/** Any constant both installers agree on: two proxies installing at once take turns. */
const INSTALL_LOCK_KEY = 7_301_946_128;
/** How long an install or uninstall waits for each lock it takes, when the session sets no lock_timeout of its own. */
const LOCK_TIMEOUT = '5s';
/**
 * How long it waits for INSTALL_LOCK_KEY, likewise: longer, as proxies starting at once each install in turn behind
 * it; bounded, as any role may take that advisory lock and keep it.
 */
const INSTALL_LOCK_TIMEOUT = '1min';
const LOCK_NOT_AVAILABLE = '55P03';
/** The schemas whose tables and views an install or uninstall changes (pgai's views are in ai), as SQL. */
const CHANGED_SCHEMAS = `ARRAY['${CATALOG_SCHEMA}', 'llm', 'ai']`;

export interface Migration {
  name: string;
  sql: string;
}

/** The numbered migrations shipped with this version, in order. */
export function shippedMigrations(): Migration[] {
  return readMigrations(INCREMENTAL_DIR);
}

function readMigrations(dir: string): Migration[] {
  return readdirSync(dir)
    .filter((file) => NUMBERED.test(file))
    .sort()
    .map((file) => ({ name: file.replace(/\.sql$/, ''), sql: readFileSync(path.join(dir, file), 'utf8') }));
}

/** Something that runs SQL: a pg client, or the proxy's own requests in a client's session. */
export interface SqlRunner {
  query<Row extends Record<string, unknown> = Record<string, unknown>>(sql: string, parameters?: unknown[]): Promise<{ rows: Row[] }>;
}

export interface Installed {
  /** The migrations applied now, by name. */
  applied: string[];
  /**
   * Model instances whose secrets stay unusable (unbound, or no read proof): no key was given, or none opens them; or
   * whose config or secrets are too big to read.
   */
  unusable: UnusableModel[];
  /** Model instances whose configs show every role credentials an earlier version left there: no key was given to seal them. */
  shown: string[];
}

/** Applies what is missing, refreshes the stubs, and binds the secrets `keys` can open. */
export async function migrate(client: SqlRunner, migrations: Migration[] = shippedMigrations(), keys: MasterKey[] = [], extension: ExtensionName = 'pg_llm'): Promise<Installed> {
  return inTransaction(client, () => install(client, migrations, keys, extension));
}

/** Runs `work` in a transaction of its own: committed if it succeeds, rolled back if it throws. */
export async function inTransaction<Result>(client: SqlRunner, work: () => Promise<Result>): Promise<Result> {
  await client.query('BEGIN');
  try {
    const result = await work();
    await client.query('COMMIT');
    return result;
  } catch (error) {
    await client.query('ROLLBACK');
    throw error;
  }
}

/**
 * What migrate does, inside a transaction the caller owns: the catalog, which every extension shares, then the stubs
 * of `extension` and of every other extension installed before it, so that all of them agree with this version.
 */
export async function install(client: SqlRunner, migrations: Migration[] = shippedMigrations(), keys: MasterKey[] = [], extension: ExtensionName = 'pg_llm'): Promise<Installed> {
  await takeInstallLock(client);
  return withInstallSettings(client, LOCK_TIMEOUT, () => installLocked(client, migrations, keys, extension), lockWaitError);
}

/** The advisory lock installs and uninstalls take turns by, held until the transaction ends; its wait bounded. */
async function takeInstallLock(client: SqlRunner): Promise<void> {
  await withInstallSettings(client, INSTALL_LOCK_TIMEOUT, () => client.query('SELECT pg_catalog.pg_advisory_xact_lock($1)', [INSTALL_LOCK_KEY]), installLockError);
}

async function installLocked(client: SqlRunner, migrations: Migration[], keys: MasterKey[], extension: ExtensionName): Promise<Installed> {
  const declarations = EXTENSIONS[extension];
  await refuseForeignObjects(
    client,
    [CATALOG_SCHEMA, LLM_SCHEMA, ...ownSchemas(declarations)],
    declarations.map((declaration) => ({ schema: schemaOf(declaration), name: declaration.name })),
  );
  await client.query(`CREATE SCHEMA IF NOT EXISTS ${CATALOG_SCHEMA}`);
  await client.query(
    `CREATE TABLE IF NOT EXISTS ${CATALOG_SCHEMA}.migrations (name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`,
  );
  const { rows } = await client.query<{ name: string }>(`SELECT name FROM ${CATALOG_SCHEMA}.migrations`);
  const done = new Set(rows.map((row) => row.name));
  const vectorsWere = await storedVectorType(client);
  const applied: string[] = [];
  for (const migration of migrations) {
    if (done.has(migration.name)) continue;
    await client.query(migration.sql);
    await client.query(`INSERT INTO ${CATALOG_SCHEMA}.migrations (name) VALUES ($1)`, [migration.name]);
    applied.push(migration.name);
  }
  for (const script of readMigrations(IDEMPOTENT_DIR)) await client.query(script.sql);
  const installedNames = await recordInstalled(client, extension);
  const stubs = installedNames.flatMap((name) => EXTENSIONS[name]);
  // A catalog installed only up to a level before its embedding columns has no vectors to agree with yet.
  const vectorType = (await storedVectorType(client)) ?? REAL_ARRAY;
  // Stubs spelled the other way would stay beside the new ones as overloads, or (a result type) refuse to change.
  if (vectorsWere !== undefined && vectorsWere !== vectorType) {
    for (const declaration of stubs.filter(usesVector)) await client.query(`DROP FUNCTION IF EXISTS ${stubSignature(declaration, vectorsWere)}`);
  }
  for (const schema of ownSchemas(EXTENSIONS[extension])) await client.query(`CREATE SCHEMA IF NOT EXISTS ${schema}; GRANT USAGE ON SCHEMA ${schema} TO PUBLIC`);
  for (const declaration of stubs) await client.query(stubSql(declaration, vectorType));
  for (const name of installedNames) {
    const objects = extensionScript(name, 'install');
    if (objects !== undefined) await client.query(objects);
  }
  await refuseForeignDependencies(client, [CATALOG_SCHEMA, LLM_SCHEMA, ...installedNames.flatMap((name) => ownSchemas(EXTENSIONS[name]))]);
  const unbound = await bindUnboundSecrets(client, keys);
  const shown = await sealShownCredentials(client, keys);
  const oversized = (await oversizedModels(client)).map(({ instanceName, reason }) => ({ instanceName, reason }));
  return { applied, unusable: [...unbound, ...(await recordMissingReadProofs(client, keys)), ...oversized], shown };
}

/**
 * Records `extension` as installed and returns every extension that is. A catalog installed only up to a level
 * before the extensions table serves pg_llm alone, the only extension there was then.
 */
async function recordInstalled(client: SqlRunner, extension: ExtensionName): Promise<ExtensionName[]> {
  if (!(await exists(client, EXTENSIONS_TABLE))) return [extension];
  await client.query(`INSERT INTO ${EXTENSIONS_TABLE} (name) VALUES ($1) ON CONFLICT DO NOTHING`, [extension]);
  const { rows } = await client.query<{ name: string }>(`SELECT name FROM ${EXTENSIONS_TABLE} ORDER BY name`);
  return rows.map((row) => row.name).filter((name): name is ExtensionName => Object.hasOwn(EXTENSIONS, name));
}

/** The SQL of an extension's objects besides its functions, if it has any. */
function extensionScript(extension: ExtensionName, action: 'install' | 'drop'): string | undefined {
  const file = path.join(EXTENSIONS_DIR, action === 'install' ? `${extension}.sql` : `${extension}-drop.sql`);
  return existsSync(file) ? readFileSync(file, 'utf8') : undefined;
}

/** The schemas an extension's stubs live in that are the extension's own (ai for pgai's; public is everyone's). */
function ownSchemas(declarations: readonly Signature[]): string[] {
  return [...new Set(declarations.map(schemaOf))].filter((schema) => schema !== DEFAULT_SCHEMA);
}

/**
 * How the catalog spells vector: the type of its embedding columns, real[] as created and pgvector's vector once
 * idempotent/002_vectors.sql has converted them. Undefined before the catalog has them.
 */
async function storedVectorType(client: SqlRunner): Promise<string | undefined> {
  const { rows } = await client.query<{ type: string }>(
    `SELECT pg_catalog.format_type(atttypid, NULL) AS type FROM pg_catalog.pg_attribute
      WHERE attrelid OPERATOR(pg_catalog.=) pg_catalog.to_regclass('${CATALOG_SCHEMA}.pg_llm_vectors') AND attname OPERATOR(pg_catalog.=) 'embedding'`,
  );
  return rows[0]?.type;
}

async function exists(client: SqlRunner, relation: string): Promise<boolean> {
  const { rows } = await client.query<{ found: boolean | string }>(`SELECT pg_catalog.to_regclass($1) IS NOT NULL AS found`, [relation]);
  return rows[0]?.found === true || rows[0]?.found === 't';
}

/** Whether the extension is installed in the database the client is connected to. */
export async function installed(client: SqlRunner, extension: ExtensionName = 'pg_llm'): Promise<boolean> {
  if (!(await exists(client, `${CATALOG_SCHEMA}.migrations`))) return false;
  if (!(await exists(client, EXTENSIONS_TABLE))) return extension === 'pg_llm';
  const { rows } = await client.query(`SELECT FROM ${EXTENSIONS_TABLE} WHERE name OPERATOR(pg_catalog.=) $1`, [extension]);
  return rows.length > 0;
}

/**
 * Removes the extension's stubs, inside a transaction the caller owns: what DROP EXTENSION does for an extension;
 * with the last extension the catalog goes too. Without cascade, objects of the user's that depend on a stub (or,
 * for an extension with a schema of its own, sit in it) make it fail, as PostgreSQL would.
 */
export async function uninstall(client: SqlRunner, cascade = true, extension: ExtensionName = 'pg_llm'): Promise<void> {
  await takeInstallLock(client);
  await withInstallSettings(client, LOCK_TIMEOUT, () => uninstallLocked(client, cascade, extension), lockWaitError);
}

async function uninstallLocked(client: SqlRunner, cascade: boolean, extension: ExtensionName): Promise<void> {
  // An install refuses such a catalog already: its schema is neither the installer's nor a superuser's.
  await refuseWeakerOwner(client);
  const behavior = cascade ? 'CASCADE' : 'RESTRICT';
  const objects = extensionScript(extension, 'drop');
  if (objects !== undefined) await client.query(objects);
  // Both spellings of vector: DROP FUNCTION IF EXISTS passes over the one the catalog does not use. Last installed,
  // first dropped: a function's argument defaults may call one declared before it (ai.create_vectorizer's builders).
  const vectorType = (await storedVectorType(client)) ?? VECTOR;
  const signatures = new Set([...EXTENSIONS[extension]].reverse().flatMap((declaration) => [...stubSignatures(declaration, vectorType), ...stubSignatures(declaration, REAL_ARRAY)]));
  // DROP ROUTINE: an aggregate's stub is no function to DROP FUNCTION.
  for (const signature of signatures) await client.query(`DROP ROUTINE IF EXISTS ${signature} ${behavior}`);
  for (const schema of ownSchemas(EXTENSIONS[extension])) await client.query(`DROP SCHEMA IF EXISTS ${schema} ${behavior}`);
  if (await exists(client, EXTENSIONS_TABLE)) {
    await client.query(`DELETE FROM ${EXTENSIONS_TABLE} WHERE name = $1`, [extension]);
    if ((await client.query(`SELECT FROM ${EXTENSIONS_TABLE}`)).rows.length > 0) return;
  }
  // Without cascade, the user's llm.call triggers keep it, as PostgreSQL would; the schema goes only when empty.
  await client.query(`DROP FUNCTION IF EXISTS ${LLM_SCHEMA}.call() ${behavior}`);
  await client.query(`DROP VIEW IF EXISTS ${LLM_SCHEMA}.queue`);
  await client.query(`DO $$ BEGIN DROP SCHEMA IF EXISTS ${LLM_SCHEMA}; EXCEPTION WHEN dependent_objects_still_exist THEN NULL; END $$`);
  await client.query(`DROP SCHEMA IF EXISTS ${CATALOG_SCHEMA} CASCADE`);
}

/**
 * Runs `work` with the install's settings: search_path INSTALL_SEARCH_PATH, and each lock wait bounded by
 * lock_timeout (the session's own, else `fallback`). A table being altered
 * waits for every open transaction that has read or written it, and while it waits every other session's use of the
 * table queues behind it: without a bound, one role's transaction left open would hold up every role for as long as
 * it liked. Past the bound the work is undone, and the error `explain` gives names the sessions holding the locks. Runs
 * in the caller's transaction (a client's, for CREATE EXTENSION), whose lock_timeout and search_path are as they were
 * afterwards.
 */
async function withInstallSettings<Result>(client: SqlRunner, fallback: string, work: () => Promise<Result>, explain: (client: SqlRunner, bound: string) => Promise<PgError>): Promise<Result> {
  await client.query('SAVEPOINT pg_llm_install');
  // Set after the savepoint, so that rolling back to it puts both settings back.
  const { rows } = await client.query<{ previous: string; bound: string; path: string }>(
    `SELECT pg_catalog.current_setting('lock_timeout') AS previous, pg_catalog.current_setting('search_path') AS path,
            pg_catalog.set_config('lock_timeout', CASE pg_catalog.current_setting('lock_timeout') WHEN '0' THEN $1 ELSE pg_catalog.current_setting('lock_timeout') END, true) AS bound,
            pg_catalog.set_config('search_path', $2, true)`,
    [fallback, INSTALL_SEARCH_PATH],
  );
  const { previous, bound, path: searchPath } = rows[0]!;
  let result: Result;
  try {
    result = await work();
  } catch (error) {
    if (sqlstateOf(error) !== LOCK_NOT_AVAILABLE) throw error;
    await client.query('ROLLBACK TO SAVEPOINT pg_llm_install');
    throw await explain(client, bound);
  }
  await client.query('RELEASE SAVEPOINT pg_llm_install');
  await client.query(`SELECT pg_catalog.set_config('lock_timeout', $1, true), pg_catalog.set_config('search_path', $2, true)`, [previous, searchPath]);
  return result;
}

/** The error for a lock not had within `bound`, naming who holds locks on the catalog's tables and views now. */
async function lockWaitError(client: SqlRunner, bound: string): Promise<PgError> {
  const { rows } = await client.query<{ holder: string }>(
    `SELECT pg_catalog.format('session %s (user %s) holds %s', l.pid, COALESCE(a.usename::pg_catalog.text, '?'),
              pg_catalog.string_agg(DISTINCT pg_catalog.format('%s on %I.%I', l.mode, n.nspname, c.relname), ', ')) AS holder
       FROM pg_catalog.pg_locks l
       JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) l.relation
       JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
       LEFT JOIN pg_catalog.pg_stat_activity a ON a.pid OPERATOR(pg_catalog.=) l.pid
      WHERE l.granted AND l.pid OPERATOR(pg_catalog.<>) pg_catalog.pg_backend_pid() AND n.nspname OPERATOR(pg_catalog.=) ANY (${CHANGED_SCHEMAS})
        AND c.relkind OPERATOR(pg_catalog.=) ANY ('{r,p,v}'::pg_catalog.char[])
        AND l.database OPERATOR(pg_catalog.=) (SELECT d.oid FROM pg_catalog.pg_database d WHERE d.datname OPERATOR(pg_catalog.=) pg_catalog.current_database())
      GROUP BY l.pid, a.usename ORDER BY l.pid LIMIT 5`,
  );
  const holders = rows.map((row) => row.holder).join('; ');
  return new PgError(LOCK_NOT_AVAILABLE, `could not lock the pg_llm catalog within lock_timeout (${bound})${holders ? `: ${holders}` : ''}`, {
    hint: 'A transaction that has read or written a catalog table holds its lock until it ends. End those transactions (or wait for them) and run this again; SET lock_timeout to wait longer.',
  });
}

/** The error for the install lock not had within `bound`, naming the sessions that hold it now. */
async function installLockError(client: SqlRunner, bound: string): Promise<PgError> {
  // A bigint key is in pg_locks as its high and low 32 bits, objsubid 1.
  const { rows } = await client.query<{ holder: string }>(
    `SELECT pg_catalog.format('session %s (user %s)', l.pid, COALESCE(a.usename::pg_catalog.text, '?')) AS holder
       FROM pg_catalog.pg_locks l
       LEFT JOIN pg_catalog.pg_stat_activity a ON a.pid OPERATOR(pg_catalog.=) l.pid
      WHERE l.granted AND l.locktype OPERATOR(pg_catalog.=) 'advisory' AND l.objsubid OPERATOR(pg_catalog.=) 1
        AND l.classid OPERATOR(pg_catalog.=) ($1::pg_catalog.int8 OPERATOR(pg_catalog.>>) 32)::pg_catalog.oid
        AND l.objid OPERATOR(pg_catalog.=) ($1::pg_catalog.int8 OPERATOR(pg_catalog.&) 4294967295)::pg_catalog.oid
        AND l.database OPERATOR(pg_catalog.=) (SELECT d.oid FROM pg_catalog.pg_database d WHERE d.datname OPERATOR(pg_catalog.=) pg_catalog.current_database())
      ORDER BY l.pid LIMIT 5`,
    [INSTALL_LOCK_KEY],
  );
  const holders = rows.length === 0 ? '' : `: ${rows.map((row) => row.holder).join(', ')} ${rows.length === 1 ? 'holds' : 'hold'} it`;
  return new PgError(LOCK_NOT_AVAILABLE, `could not take the pg_llm catalog's install lock within lock_timeout (${bound})${holders}`, {
    hint: `Installs and upgrades of the catalog take turns by the advisory lock ${INSTALL_LOCK_KEY}: another one may be running, or a session holds that lock. End that session (or wait for it) and run this again; SET lock_timeout to wait longer.`,
  });
}
