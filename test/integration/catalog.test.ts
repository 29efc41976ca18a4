// Installing the catalog: numbered migrations applied once each, stubs generated from the declarations with
// PostgreSQL agreeing on every signature, upgrades from every earlier level, and nothing left by a failed install.

import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { EXTENSIONS } from '../../functions/registry.js';
import { REAL_ARRAY, spelled } from '../../functions/vector-type.js';
import { CATALOG_SCHEMA, migrate, shippedMigrations, uninstall } from '../../src/catalog/migrate.js';
import { STUB_SQLSTATE } from '../../src/catalog/stubs.js';
import { freshDatabase } from '../support/database.js';
import { cluster, connection } from '../support/proxy.js';

const MAIN = fileURLToPath(new URL('../../dist/src/main.js', import.meta.url));
async function appliedMigrations(client: pg.Client): Promise<string[]> {
  const { rows } = await client.query(`SELECT name FROM ${CATALOG_SCHEMA}.migrations ORDER BY name`);
  return rows.map((row: { name: string }) => row.name);
}

describe('catalog install', () => {
  it('applies every numbered migration once; a second install applies nothing', async () => {
    const { client } = await freshDatabase();
    const names = shippedMigrations().map((migration) => migration.name);
    expect((await migrate(client)).applied).toEqual(names);
    expect((await migrate(client)).applied).toEqual([]);
    expect(await appliedMigrations(client)).toEqual(names);
    const { rows } = await client.query(`SELECT tablename FROM pg_tables WHERE schemaname = $1 ORDER BY 1`, [CATALOG_SCHEMA]);
    expect(rows.map((row: { tablename: string }) => row.tablename)).toEqual([
      'migrations',
      ...['audit_log', 'config', 'extensions', 'feedback', 'knowledge_chunks', 'knowledge_documents', 'models', 'queries', 'queue', 'reports', 'session_messages', 'sessions', 'trace_log', 'unbound_secrets', 'vectorizer_batches', 'vectorizer_errors', 'vectorizers', 'vectors'].map(
        (table) => `pg_llm_${table}`,
      ),
    ]);
  });

  it.each(shippedMigrations().map((_, level) => level))('upgrades from level %i to the latest', async (level) => {
    const { client } = await freshDatabase();
    const all = shippedMigrations();
    await migrate(client, all.slice(0, level));
    expect((await migrate(client)).applied).toEqual(all.slice(level).map((migration) => migration.name));
    expect(await appliedMigrations(client)).toEqual(all.map((migration) => migration.name));
  });

  it('a failing migration leaves the database as it was', async () => {
    const { client } = await freshDatabase();
    await expect(migrate(client, [...shippedMigrations(), { name: '9999_broken', sql: 'CREATE TABLE broken (' }])).rejects.toMatchObject({ code: '42601' });
    const { rows } = await client.query(`SELECT count(*)::int AS n FROM pg_namespace WHERE nspname = $1`, [CATALOG_SCHEMA]);
    expect(rows).toEqual([{ n: 0 }]);
  });

  it('two installers at once take turns: each migration is applied exactly once', async () => {
    const { name, client } = await freshDatabase();
    const second = new pg.Client(connection(cluster().port, 'postgres', name));
    await second.connect();
    const [first, other] = await Promise.all([migrate(client), migrate(second)]);
    await second.end();
    expect([...first.applied, ...other.applied].sort()).toEqual(shippedMigrations().map((migration) => migration.name));
  });

  it('uninstall removes the catalog and every stub', async () => {
    const { client } = await freshDatabase();
    await migrate(client);
    await client.query('BEGIN');
    await uninstall(client);
    await client.query('COMMIT');
    const { rows } = await client.query(`SELECT count(*)::int AS n FROM pg_proc WHERE proname = ANY($1)`, [EXTENSIONS.pg_llm.map((declaration) => declaration.name)]);
    expect(rows).toEqual([{ n: 0 }]);
    expect((await migrate(client)).applied).toEqual(shippedMigrations().map((migration) => migration.name));
  });
});

describe('function stubs', () => {
  it('PostgreSQL sees exactly the declared signature of every function', async () => {
    const { client } = await freshDatabase();
    await migrate(client);
    // The test cluster has no pgvector: vector is spelled real[]. pgai's are in pgai-install.test.ts.
    for (const declaration of EXTENSIONS.pg_llm.map((declared) => spelled(declared, REAL_ARRAY))) {
      const { rows } = await client.query(
        `SELECT pg_get_function_arguments(oid) AS arguments, pg_get_function_result(oid) AS result, proisstrict AS strict
           FROM pg_proc WHERE proname = $1 AND pronamespace = 'public'::regnamespace ORDER BY pronargs`,
        [declaration.name],
      );
      if (declaration.aggregate) {
        // Aggregates take no defaults: one per number of arguments, from those without a default to all.
        const required = declaration.arguments.filter((argument) => argument.default === undefined).length;
        const arities = declaration.arguments.map((_, i) => i + 1).filter((arity) => arity >= required);
        const shown = (arity: number) => declaration.arguments.slice(0, arity).map((argument) => `${argument.name} ${argument.type}`).join(', ');
        expect(rows).toEqual(arities.map((arity) => ({ arguments: shown(arity), result: (declaration.result as { type: string }).type, strict: false })));
        continue;
      }
      expect(rows).toHaveLength(1);
      const expectedArguments = declaration.arguments
        .map((argument) => `${argument.name} ${argument.type}${argument.default ? ` DEFAULT ${shownDefault(argument.default)}` : ''}`)
        .join(', ');
      const expectedResult =
        declaration.result.kind === 'scalar'
          ? declaration.result.type
          : `TABLE(${declaration.result.columns.map((column) => `${column.name} ${column.type}`).join(', ')})`;
      expect(rows[0]).toEqual({ arguments: expectedArguments, result: expectedResult, strict: declaration.strict });
    }
  });

  it('a call that bypasses the proxy fails with 0A000 and a hint; NULL into a strict stub is NULL', async () => {
    const { client } = await freshDatabase();
    await migrate(client);
    await expect(client.query(`SELECT pg_llm_chat('model', 'hello')`)).rejects.toMatchObject({
      code: STUB_SQLSTATE,
      message: expect.stringContaining('pg_llm_chat() runs in pg_llm proxy'),
      hint: expect.stringContaining('proxy port'),
    });
    await expect(client.query(`SELECT * FROM pg_llm_chat_stream('model', 'hello')`)).rejects.toMatchObject({ code: STUB_SQLSTATE });
    expect((await client.query(`SELECT pg_llm_chat(NULL, 'hello') AS answer`)).rows).toEqual([{ answer: null }]);
    await expect(client.query(`SELECT pg_llm_chat('model')`)).rejects.toMatchObject({ code: '42883' });
  });
});

describe('pg-llm-proxy migrate', () => {
  it('installs from the shell, and exits 1 with a message when it cannot', async () => {
    const { name, client } = await freshDatabase();
    const url = `postgres://postgres@127.0.0.1:${cluster().port}/${name}`;
    const run = (args: string[]) => spawnSync(process.execPath, [MAIN, 'migrate', ...args], { encoding: 'utf8' });
    const installed = run(['--database-url', url]);
    expect(installed.status).toBe(0);
    expect(installed.stderr).toMatch(/catalog upgraded/);
    expect(await appliedMigrations(client)).toEqual(shippedMigrations().map((migration) => migration.name));
    const again = run([`--database-url=${url}`]);
    expect(again.stderr).toMatch(/already up to date/);
    const failed = run(['--database-url', `postgres://postgres@127.0.0.1:${cluster().port}/no_such_database`]);
    expect(failed.status).toBe(1);
    expect(failed.stderr).toMatch(/migration failed/);
    expect(failed.stderr).toMatch(/no_such_database/);
    expect(run([]).status).toBe(2);
  });
});

/** A default as pg_get_function_arguments shows it: types in pg_catalog without their schema. */
function shownDefault(sql: string): string {
  return sql.replaceAll('::pg_catalog.', '::');
}
