// pgai's key settings given at connection start (PGOPTIONS='-c ai.openai_api_key=…', or a startup parameter of their
// own) are held by the proxy as a SET of them is: the server has only a reference, so another role's code that the
// session runs reads no key from current_setting(), while the session's calls use it.

import { randomBytes } from 'node:crypto';
import pg from 'pg';
import postgres from 'postgres';
import { describe, expect, it } from 'vitest';
import { afterThisTest, freshDatabase } from '../support/database.js';
import { clientOf } from '../support/pg-ai.js';
import { pgaiSuite } from '../support/pgai.js';
import { connection } from '../support/proxy.js';

const suite = pgaiSuite();
const authorizations = () => suite.fake.requests.map((request) => request.authorization);

/** A database with ai, and a view of trust_user's that all may read, copying the reader's key setting into its own table. */
async function copyingView(): Promise<{ name: string; other: pg.Client }> {
  const { name, client: direct } = await freshDatabase();
  await direct.query(`CREATE SCHEMA shared AUTHORIZATION trust_user; GRANT USAGE ON SCHEMA shared TO PUBLIC`);
  await (await clientOf(suite.proxy, name)).query('CREATE EXTENSION ai');
  const other = await clientOf(suite.proxy, name, 'trust');
  // The setting's name computed, as a function of another role's would write it.
  await other.query(`CREATE TABLE shared.loot (v text);
    CREATE FUNCTION shared.grab() RETURNS int LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog AS
      $$ INSERT INTO shared.loot SELECT current_setting(format('%s.%s', 'ai', 'openai_api_key'), true) RETURNING 1 $$;
    CREATE VIEW shared.report AS SELECT shared.grab() AS n;
    GRANT SELECT ON shared.report TO PUBLIC; GRANT EXECUTE ON FUNCTION shared.grab() TO PUBLIC`);
  suite.fake.requests.length = 0;
  return { name, other };
}

describe('a key setting in the startup options', () => {
  it("is held by the proxy: another role's view copies only a reference, and the session's calls use the key", async () => {
    const { name, other } = await copyingView();
    const key = 'sk-startup-options-0123456789abcdef';
    // -c's dashed spelling, as the server reads it; the server named beside it is the session's choice.
    const victim = new pg.Client({ ...connection(suite.proxy.port, 'password', name), options: `-c ai.openai-api-key=${key} -c ai.openai_base_url=${suite.fake.baseUrl}` });
    await victim.connect();
    afterThisTest(() => victim.end());
    await victim.query('SELECT n FROM shared.report');
    const [{ v: copied }] = (await other.query('SELECT v FROM shared.loot')).rows;
    expect(copied).toMatch(/^held by pg_llm proxy [0-9a-f]{32}$/);
    expect((await victim.query('SHOW ai.openai_api_key')).rows).toEqual([{ 'ai.openai_api_key': copied }]);
    await victim.query(`SELECT ai.openai_embed('m', 'x')`);
    expect(authorizations()).toEqual([`Bearer ${key}`]);
  });

  it.each([
    // getopt reads -nc as -n then -c, and -e-name=value as -e then --name=value: the server sets both.
    ['when -c comes after other flags combined with it (-nc)', (key: string) => `-nc ai.openai_api_key=${key} -e-ai.openai-base-url=${suite.fake.baseUrl}`],
    // Review R3: split at JavaScript's \s, -D\u3000 took the next word for its argument, where the server (which splits
    // at ASCII spaces only) set the key, in clear, for another role's code to read.
    ['behind a word holding a non-ASCII space', (key: string) => `-D\u3000 -c ai.openai_api_key=${key} -c ai.openai_base_url=${suite.fake.baseUrl}`],
  ])("is held %s: another role's view copies only a reference", async (_, options) => {
    const { name, other } = await copyingView();
    const key = `sk-${randomBytes(12).toString('hex')}`;
    const victim = new pg.Client({ ...connection(suite.proxy.port, 'password', name), options: options(key) });
    await victim.connect();
    afterThisTest(() => victim.end());
    await victim.query('SELECT n FROM shared.report');
    expect((await other.query('SELECT v FROM shared.loot')).rows).toEqual([{ v: expect.stringMatching(/^held by pg_llm proxy [0-9a-f]{32}$/) }]);
    await victim.query(`SELECT ai.openai_embed('m', 'x')`);
    expect(authorizations()).toEqual([`Bearer ${key}`]);
  });

  it('is refused beside a byte a single-byte locale may take for a space (U+00A0 is C2 A0)', async () => {
    const { name } = await copyingView();
    const refused = new pg.Client({ ...connection(suite.proxy.port, 'password', name), options: '-D\u00a0 -c ai.openai_api_key=sk-nbsp-0123456789abcdef' });
    await expect(refused.connect()).rejects.toMatchObject({ code: '0A000', message: expect.stringContaining('a byte a server may read as a space') });
  });

  it('is held when given as a startup parameter of its own, and is what RESET and DISCARD ALL restore', async () => {
    const { name, other } = await copyingView();
    const key = 'sk-startup-parameter-0123456789abcdef';
    const { host, port, user, password } = connection(suite.proxy.port, 'password', name);
    const db = postgres({ host, port, user, password, database: name, max: 1, connection: { 'ai.openai_api_key': key, 'ai.openai_base_url': suite.fake.baseUrl } });
    afterThisTest(() => db.end());
    await db.unsafe('SELECT n FROM shared.report');
    expect((await other.query('SELECT v FROM shared.loot')).rows).toEqual([{ v: expect.stringMatching(/^held by pg_llm proxy /) }]);
    await db.unsafe(`SET ai.openai_api_key = 'sk-set-later-0123456789'`);
    await db.unsafe('RESET ai.openai_api_key');
    await db.unsafe(`SELECT ai.openai_embed('m', 'after reset') IS NOT NULL AS called`);
    await db.unsafe('DISCARD ALL');
    await db.unsafe(`SELECT ai.openai_embed('m', 'after discard') IS NOT NULL AS called`);
    expect(authorizations()).toEqual([`Bearer ${key}`, `Bearer ${key}`]);
  });
});
