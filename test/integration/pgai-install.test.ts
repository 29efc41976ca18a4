// CREATE EXTENSION ai through the proxy: the ai schema with pgai's exact signatures (checked against pgai's own,
// as PostgreSQL prints them), beside pg_llm or alone, and DROP EXTENSION ai taking it away again.

import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXTENSIONS } from '../../functions/registry.js';
import { migrate, shippedMigrations } from '../../src/catalog/migrate.js';
import { STUB_SQLSTATE } from '../../src/catalog/stubs.js';
import { freshDatabase } from '../support/database.js';
import { clientOf } from '../support/pg-ai.js';
import { PGAI_SIGNATURES } from '../support/pgai-signatures.js';
import { startProxy, type TestProxy } from '../support/proxy.js';

let proxy: TestProxy;
beforeAll(async () => {
  proxy = await startProxy();
});
afterAll(() => proxy.stop());

async function database(): Promise<{ direct: pg.Client; client: pg.Client }> {
  const { name, client: direct } = await freshDatabase();
  return { direct, client: await clientOf(proxy, name) };
}

async function aiFunctions(client: pg.Client): Promise<Array<{ name: string; arguments: string; result: string }>> {
  const { rows } = await client.query(
    `SELECT proname AS name, pg_get_function_arguments(oid) AS arguments, pg_get_function_result(oid) AS result
       FROM pg_proc WHERE pronamespace = to_regnamespace('ai')`,
  );
  return rows;
}

describe('CREATE EXTENSION ai', () => {
  it("installs every function with pgai's signature: names, argument names, types, defaults, overloads and results", async () => {
    const { client } = await database();
    await client.query('CREATE EXTENSION IF NOT EXISTS ai CASCADE');
    const ordered = (signatures: Array<{ name: string; arguments: string }>) => signatures.map((signature) => JSON.stringify(signature)).sort();
    expect(ordered(await aiFunctions(client))).toEqual(ordered(PGAI_SIGNATURES));
    expect(EXTENSIONS.ai).toHaveLength(PGAI_SIGNATURES.length);
  });

  it('leaves public alone, answers as PostgreSQL does when it exists, and DROP EXTENSION ai removes the schema', async () => {
    const { client, direct } = await database();
    await client.query('CREATE EXTENSION ai');
    const { rows: inPublic } = await client.query(`SELECT count(*)::int AS n FROM pg_proc WHERE pronamespace = 'public'::regnamespace`);
    expect(inPublic).toEqual([{ n: 0 }]);
    await expect(client.query('CREATE EXTENSION ai')).rejects.toMatchObject({ code: '42710', message: 'extension "ai" already exists' });
    await client.query('CREATE EXTENSION IF NOT EXISTS ai');
    // pg_llm's statements find it not installed, and installing it keeps ai's stubs.
    await expect(client.query('DROP EXTENSION pg_llm')).rejects.toMatchObject({ code: '42704' });
    await client.query('CREATE EXTENSION pg_llm');
    await client.query('DROP EXTENSION ai');
    expect(await aiFunctions(client)).toEqual([]);
    const { rows: schemas } = await direct.query(`SELECT nspname FROM pg_namespace WHERE nspname IN ('ai', '_pg_llm_catalog') ORDER BY 1`);
    expect(schemas).toEqual([{ nspname: '_pg_llm_catalog' }]);
    await client.query('DROP EXTENSION pg_llm');
    const { rows: none } = await direct.query(`SELECT nspname FROM pg_namespace WHERE nspname IN ('ai', '_pg_llm_catalog')`);
    expect(none).toEqual([]);
    await client.query('DROP EXTENSION IF EXISTS ai');
    await expect(client.query('DROP EXTENSION ai')).rejects.toMatchObject({ code: '42704', message: 'extension "ai" does not exist' });
  });

  it('joins a pg_llm catalog installed before extensions were recorded, and leaves it whole when dropped', async () => {
    const { client, direct } = await database();
    const before = shippedMigrations().filter((migration) => migration.name < '0012');
    await migrate(direct, before);
    await client.query('CREATE EXTENSION ai');
    expect((await direct.query(`SELECT name FROM _pg_llm_catalog.pg_llm_extensions ORDER BY name`)).rows).toEqual([{ name: 'ai' }, { name: 'pg_llm' }]);
    await client.query('DROP EXTENSION ai');
    expect((await direct.query(`SELECT count(*)::int AS n FROM pg_proc WHERE proname = 'pg_llm_chat'`)).rows).toEqual([{ n: 1 }]);
    await expect(client.query('CREATE EXTENSION pg_llm')).rejects.toMatchObject({ code: '42710' });
  });

  it('DROP EXTENSION ai without CASCADE keeps what depends on it, as PostgreSQL would', async () => {
    const { client } = await database();
    await client.query('CREATE EXTENSION ai');
    await client.query(`CREATE VIEW chunks AS SELECT * FROM ai.chunk_text('a b c', chunk_size => 1, chunk_overlap => 0, separator => ' ')`);
    await expect(client.query('DROP EXTENSION ai')).rejects.toMatchObject({ code: '2BP01' });
    expect((await aiFunctions(client)).length).toBe(PGAI_SIGNATURES.length);
    await client.query('DROP EXTENSION ai CASCADE');
    expect(await aiFunctions(client)).toEqual([]);
  });

  it('a call that bypasses the proxy fails with 0A000 naming the function; a database without ai is told to install it', async () => {
    const { client, direct } = await database();
    await expect(client.query(`SELECT * FROM ai.chunk_text('a b', separator => ' ')`)).rejects.toMatchObject({
      code: '42883',
      message: 'ai is not installed in this database',
      hint: expect.stringContaining('CREATE EXTENSION ai'),
    });
    await client.query('CREATE EXTENSION ai');
    await expect(direct.query(`SELECT * FROM ai.chunk_text('a b')`)).rejects.toMatchObject({
      code: STUB_SQLSTATE,
      message: 'ai.chunk_text() runs in pg_llm proxy and cannot run inside the database',
    });
    await expect(direct.query(`SELECT ai.openai_embed('m', array['a'])`)).rejects.toMatchObject({
      code: STUB_SQLSTATE,
      message: 'ai.openai_embed(text, text[]) runs in pg_llm proxy and cannot run inside the database',
    });
  });

  it('a function of the same name in another schema is the user\'s own, never intercepted', async () => {
    const { client } = await database();
    await client.query('CREATE EXTENSION ai');
    await client.query(`CREATE SCHEMA mine; CREATE FUNCTION mine.chunk_text(t text) RETURNS text LANGUAGE sql AS $$ SELECT 'mine: ' || t $$`);
    expect((await client.query(`SELECT mine.chunk_text('x') AS c`)).rows).toEqual([{ c: 'mine: x' }]);
    expect((await client.query(`SELECT chunk FROM ai.chunk_text('x y', chunk_size => 1, chunk_overlap => 0, separator => ' ')`)).rows).toEqual([{ chunk: 'x' }, { chunk: 'y' }]);
  });
});
