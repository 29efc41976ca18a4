// Every spelling PostgreSQL reads as one of pgai's key settings, or as pg_llm.master_key, is taken in by the proxy:
// quoted and Unicode-escaped identifiers, comments between the names, set_config's name as an escaped string, a
// continued string, a cast or a concatenation of literals. The server, its log and SHOW see only a reference.

import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { afterThisTest } from '../support/database.js';
import { functionCall } from '../support/function-call.js';
import { aiDatabase, pgaiSuite } from '../support/pgai.js';
import { cluster } from '../support/proxy.js';
import { RawClient } from '../support/raw-client.js';

const suite = pgaiSuite();
/** set_config(text, text, boolean), which a fastpath FunctionCall names by oid. */
const SET_CONFIG_OID = 2078;
const LOGGED = `DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET log_statement = %L', current_database(), 'all'); END $$`;

function unique(prefix: string): string {
  return `${prefix}-${randomBytes(12).toString('hex')}`;
}

function serverLog(): string {
  return readFileSync(path.join(cluster().socketDir, 'server.log'), 'utf8');
}

/** Statements that set ai.openai_api_key to `key`, each spelled as no earlier proxy read it. */
function apiKeySpellings(key: string): string[] {
  return [
    `SET "ai".openai_api_key = '${key}'`,
    `SET AI.OPENAI_API_KEY = '${key}'`,
    `SET "AI".openai_api_key = '${key}'`,
    `SET ai/* between */.openai_api_key = '${key}'`,
    `SET ai -- between\n.openai_api_key = '${key}'`,
    `SET U&"\\0061i".openai_api_key = '${key}'`,
    `SET "ai.openai_api_key" = '${key}'`,
    `SET SESSION "AI.OPENAI_API_KEY" TO '${key}'`,
    `SET U&"!0061i" UESCAPE '!' . openai_api_key TO '${key}'`,
    `ALTER ROLE CURRENT_USER SET "ai".openai_api_key = '${key}'`,
    `SELECT set_config(E'\\x61i.openai_api_key', '${key}', false)`,
    `SELECT set_config(U&'\\0061i.openai_api_key', '${key}', false)`,
    `SELECT pg_catalog.set_config('a'\n'i.openai_api_key', '${key}', false)`,
    `SELECT set_config('ai.openai_api_key'::text, '${key}'::text, false)`,
    `SELECT set_config('ai.openai_api_key' COLLATE "C", '${key}' COLLATE "C", false)`,
    `SELECT set_config('ai.' || 'openai_api_key', '${key}', false)`,
    `SELECT set_config('a' || 'i.openai_api_key', '${key}', false)`,
    `SELECT "set_config"('AI.openai_api_key', '${key}', false)`,
    `SELECT U&"\\0073et_config"('ai.openai_api_key', '${key}', false)`,
  ];
}

describe('a key setting in any spelling', () => {
  it("never reaches the server: the proxy holds pgai's key, or refuses where the server would keep it", async () => {
    const { client } = await aiDatabase(suite, LOGGED);
    const keys: string[] = [];
    for (const [index, statement] of apiKeySpellings('{key}').entries()) {
      const key = unique(`sk-spelled-${index}`);
      keys.push(key);
      const sql = statement.replace('{key}', key);
      if (sql.startsWith('ALTER ROLE')) {
        await expect(client.query(sql), sql).rejects.toMatchObject({ code: '0A000' });
        continue;
      }
      await client.query(sql);
      const shown = (await client.query('SHOW ai.openai_api_key')).rows[0]['ai.openai_api_key'];
      expect(shown, sql).toMatch(/^held by pg_llm proxy /);
      await client.query(`SELECT ai.openai_embed('m', 'x', client_config => $1)`, [JSON.stringify({ base_url: suite.fake.baseUrl })]);
      expect(suite.fake.requests.at(-1)?.authorization, sql).toBe(`Bearer ${key}`);
      await client.query('RESET ai.openai_api_key');
    }
    const log = serverLog();
    for (const key of keys) expect(log).not.toContain(key.slice(-16));
  });

  it('under a name computed in SQL, a value written out that could be a key is refused; a short one is set', async () => {
    const { client } = await aiDatabase(suite, LOGGED);
    const key = unique('sk-computed');
    await expect(client.query(`SELECT set_config(lower('AI.OPENAI_API_KEY'), '${key}', false)`)).rejects.toMatchObject({ code: '0A000', hint: expect.stringContaining('Write the name out') });
    // A key written out but not as one literal, which the proxy could not replace whole.
    await expect(client.query(`SELECT set_config('ai.openai_api_key', '${key}' || '', false)`)).rejects.toMatchObject({ code: '0A000', message: expect.stringContaining('one string literal') });
    await client.query(`SELECT set_config(lower('APP.MODE'), 'on', false)`);
    expect((await client.query(`SELECT current_setting('app.mode') AS mode`)).rows).toEqual([{ mode: 'on' }]);
    expect(serverLog()).not.toContain(key.slice(-16));
  });

  // Review: set_config with a name computed in SQL (bound, joined to a parameter, a function's result, a column) set a
  // key in clear on the server, for SHOW and any code the session runs, and its log kept the bound key.
  it('under a name computed in SQL, a value that could be a key is refused however it comes; names written out, or begun, are set', async () => {
    const { client } = await aiDatabase(suite, LOGGED);
    const key = unique('sk-named');
    const refused = { code: '0A000', message: expect.stringContaining('setting name computed in SQL'), hint: expect.stringContaining("SET ai.openai_api_key = '…'") };
    const computed: Array<[string, string[]]> = [
      ['SELECT set_config($1, $2, false)', ['ai.openai_api_key', key]],
      ['SELECT set_config($1, $2, false)', ['pg_llm.master_key', key]],
      [`SELECT set_config('ai.' || $1, $2, false)`, ['openai_api_key', key]],
      [`SELECT set_config('pg_llm.' || $1, $2, false)`, ['master_key', key]],
      ['SELECT set_config(lower($1), btrim($2), false)', ['AI.OPENAI_API_KEY', key]],
      [`SELECT set_config(n, v, false) FROM (VALUES ('ai.openai_api_key', '${key}')) x(n, v)`, []],
      ['PREPARE named(text, text) AS SELECT set_config($1, $2, false)', []],
    ];
    for (const [sql, values] of computed) await expect(client.query(sql, values), sql).rejects.toMatchObject(refused);
    const held = await client.query(`SELECT current_setting('ai.openai_api_key', true) AS key, current_setting('pg_llm.master_key', true) AS master`);
    expect(JSON.stringify(held.rows)).not.toContain(key);
    // What drivers, ORMs and PostgREST write, a name begun with another prefix, and a value too short to be a key.
    await client.query(`SELECT set_config('search_path', $1, false), set_config('application_name', $2, false), set_config('request.jwt.claims', $3, true)`, ['public', 'app', '{"role":"x"}']);
    await client.query(`SELECT set_config('app.' || $1, $2, false), set_config($3, 'on', false), set_config(lower($4), NULL, false)`, ['tenant', 'acme-corporation-tenant', 'app.mode', 'APP.CLEARED']);
    const read = await client.query(`SELECT current_setting('search_path') AS path, current_setting('application_name') AS name, current_setting('app.tenant') AS tenant, current_setting('app.mode') AS mode`);
    expect(read.rows).toEqual([{ path: 'public', name: 'app', tenant: 'acme-corporation-tenant', mode: 'on' }]);
    expect(serverLog()).not.toContain(key.slice(-16));
  });

  // Review: set_config('ai.openai_api_key', $1, false) with the key bound left the key in clear in the setting, for
  // SHOW and for any other role's code the session ran to read.
  it('bound as a parameter of set_config is refused, in either protocol and in PREPARE: no code the session runs reads it', async () => {
    const { direct, client } = await aiDatabase(suite, LOGGED, 'trust');
    await direct.query(`CREATE VIEW peek AS SELECT current_setting('ai.openai_api_key', true) AS seen; GRANT SELECT ON peek TO PUBLIC`);
    const key = unique('sk-bound');
    const refused = { code: '0A000', message: 'set_config cannot take a value of ai.openai_api_key from a bound parameter', hint: expect.stringContaining("SET ai.openai_api_key = '…'") };
    for (const value of ['$1', '$1::text', 'btrim($1)', "coalesce($1, '')"]) {
      await expect(client.query(`SELECT set_config('ai.openai_api_key', ${value}, false)`, [key]), value).rejects.toMatchObject(refused);
    }
    await expect(client.query(`PREPARE setter(text) AS SELECT set_config('ai.openai_api_key', $1, false)`)).rejects.toMatchObject(refused);
    await expect(client.query(`SELECT set_config('ai.openai_api_key', k, false) FROM (SELECT $1::text AS k) s`, [key])).rejects.toMatchObject(refused);
    expect((await client.query('SELECT seen FROM peek')).rows).toEqual([{ seen: null }]);
    // Written out, the key is held: the other role's view reads only the reference.
    await client.query(`SELECT set_config('ai.openai_api_key', '${key}', false)`);
    expect((await client.query('SELECT seen FROM peek')).rows[0].seen).toMatch(/^held by pg_llm proxy /);
    // Other settings still take a bound value.
    await client.query(`SELECT set_config('ai.openai_base_url', $1, false)`, ['http://a.example']);
    expect(serverLog()).not.toContain(key.slice(-16));
  });

  it('set by a fastpath call of set_config is refused before the server holds it: no code the session runs reads it', async () => {
    const { name, direct } = await aiDatabase(suite, LOGGED);
    await direct.query(`CREATE VIEW peek AS SELECT current_setting('ai.openai_api_key', true) AS seen, current_setting('pg_llm.master_key', true) AS master`);
    const raw = await RawClient.session(suite.proxy.port, { database: name });
    afterThisTest(async () => void raw.socket.destroy());
    const key = unique('sk-fastpath');
    for (const setting of ['ai.openai_api_key', 'AI.OpenAI_API_Key', 'pg_llm.master_key']) {
      raw.send(functionCall(SET_CONFIG_OID, setting, key, 'false'));
      const answer = await raw.until('readyForQuery');
      expect(answer.find((message) => message.name === 'error'), setting).toMatchObject({ code: '0A000', message: expect.stringContaining('fastpath call of set_config') });
    }
    const seen = await raw.query('SELECT seen, master FROM peek');
    expect(seen.find((message) => message.name === 'dataRow')).toMatchObject({ fields: [null, null] });
    // Other settings are the server's business, fastpath or not.
    raw.send(functionCall(SET_CONFIG_OID, 'app.mode', 'on', 'false'));
    // pg-protocol reads no FunctionCallResponse: it makes it an error without fields.
    expect((await raw.until('readyForQuery')).find((message) => (message as { code?: string }).code !== undefined)).toBeUndefined();
    expect((await raw.query(`SELECT current_setting('app.mode')`)).find((message) => message.name === 'dataRow')).toMatchObject({ fields: ['on'] });
    expect(serverLog()).not.toContain(key.slice(-16));
  });

  // Review F2: a value computed from a constant ((SELECT 'sk-…'), a CTE's column, coalesce, format…) was set, and the
  // server's log kept the key in clear, where the same expressions at a call's api_key are refused.
  it('computed from string constants of the statement, in the call or in the columns it reads, is refused; the log keeps none', async () => {
    const { client } = await aiDatabase(suite, LOGGED);
    const key = unique('sk-computed-value');
    const refused = { code: '0A000', message: expect.stringMatching(/^set_config takes a value of ai\.\w+ computed from string constants written in the statement$/) };
    for (const sql of [
      `SELECT set_config('ai.openai_api_key', (SELECT '${key}'), false)`,
      `WITH c AS (SELECT '${key}' k) SELECT set_config('ai.openai_api_key', k, false) FROM c`,
      `SELECT set_config('ai.openai_api_key', v, false) FROM (VALUES ('${key}')) t(v)`,
      `SELECT set_config('ai.anthropic_api_key', v, true) FROM unnest(ARRAY['${key}']) v`,
      `COPY (SELECT set_config('ai.openai_api_key', k, false) FROM (SELECT '${key}' k) s) TO STDOUT`,
      `EXPLAIN SELECT set_config('ai.openai_api_key', k, false) FROM (SELECT '${key}' k) s`,
      `SELECT set_config('ai.openai_api_key', coalesce(NULL, '${key}'), false)`,
      `SELECT set_config('ai.openai_api_key', CASE WHEN true THEN '${key}' END, false)`,
      `SELECT set_config('ai.openai_api_key', x.k, false) FROM json_to_record('{"k": "${key}"}') AS x(k text)`,
      `SELECT set_config('ai.openai_api_key', format('%s', '${key}'), false)`,
      `SELECT set_config('ai.openai_api_key', s.k, false) FROM (SELECT 1) z, LATERAL (SELECT '${key}' k) s`,
    ]) {
      await expect(client.query(sql), sql).rejects.toMatchObject(refused);
    }
    // A parameter elsewhere in the statement (the extended protocol) changes nothing.
    await expect(client.query(`SELECT set_config('ai.openai_api_key', k, false) FROM (SELECT '${key}'::text k WHERE $1) s`, [true])).rejects.toMatchObject(refused);
    expect((await client.query(`SELECT current_setting('ai.openai_api_key', true) AS key`)).rows).toEqual([{ key: null }]);
    // A value the server computes from no constant of the statement is the server's; one literal is held.
    await client.query(`SET app.key = 'not-a-secret'`);
    await client.query(`SELECT set_config('ai.openai_api_key', current_setting('app.key'), false)`);
    expect((await client.query('SHOW ai.openai_api_key')).rows).toEqual([{ 'ai.openai_api_key': 'not-a-secret' }]);
    await client.query(`SELECT set_config('ai.openai_api_key', '${key}', false)`);
    expect((await client.query('SHOW ai.openai_api_key')).rows[0]['ai.openai_api_key']).toMatch(/^held by pg_llm proxy /);
    expect(serverLog()).not.toContain(key.slice(-16));
  });

  it('set by an UPDATE of pg_settings is refused, however the name is written; other settings are updated there as ever', async () => {
    const { client } = await aiDatabase(suite, LOGGED);
    await client.query(`SET ai.openai_api_key = '${unique('sk-set-first')}'`);
    const keys: string[] = [];
    // The last has no "ai" in its bytes.
    for (const name of [`'ai.openai_api_key'`, `'AI.' || 'openai_api_key'`, `E'\\x61i.openai_api_key'::text`, `E'\\x61\\x69.\\x6fpen\\x61\\x69_\\x61pi_key'`]) {
      const key = unique('sk-pg-settings');
      keys.push(key);
      const sql = `UPDATE pg_settings SET setting = '${key}' WHERE name = ${name}`;
      await expect(client.query(sql), sql).rejects.toMatchObject({ code: '0A000', message: 'ai.openai_api_key can be set only with SET or set_config()' });
    }
    // Matched otherwise than by its name written out, the setting may be a key setting (review P).
    for (const where of [`name ~ '^ai\\.openai_api_k'`, `name LIKE 'ai.openai%'`, `name IN (SELECT 'ai.openai_api_key')`, `true`]) {
      const key = unique('sk-pg-settings');
      keys.push(key);
      const sql = `UPDATE pg_settings SET setting = '${key}' WHERE ${where}`;
      await expect(client.query(sql), sql).rejects.toMatchObject({ code: '0A000' });
    }
    await client.query(`UPDATE pg_settings SET setting = 'off' WHERE name = 'enable_seqscan'`);
    expect((await client.query('SHOW enable_seqscan')).rows).toEqual([{ enable_seqscan: 'off' }]);
    const log = serverLog();
    for (const key of keys) expect(log).not.toContain(key.slice(-16));
  });

  it('leaves other settings as they are, and keeps a broken statement that may set a key from the server', async () => {
    const { client } = await aiDatabase(suite, LOGGED);
    const value = unique('not-a-key');
    await client.query(`SELECT set_config(E'request.\\x6Awt', $1, false), set_config('ai.openai_base_url', 'http://a.example', false)`, [value]);
    const read = await client.query(`SELECT current_setting('request.jwt') AS jwt, current_setting('ai.openai_base_url') AS url`);
    expect(read.rows[0]).toEqual({ jwt: value, url: 'http://a.example' });
    // A broken statement that could set a key is refused by the proxy, whatever its spelling; the server never sees it.
    const broken = unique('sk-broken');
    await expect(client.query(`SET "ai"/**/.openai_api_key '${broken}'`)).rejects.toMatchObject({ code: '42601', message: expect.stringContaining('not sent to the server') });
    expect(serverLog()).not.toContain(broken.slice(-16));
  });

  it('pg_llm.master_key spelled with Unicode escapes is held too, and set_config of it in pieces is refused', async () => {
    const { client } = await aiDatabase(suite, LOGGED);
    const key = unique('mk-spelled');
    await client.query(`SET pg_llm.U&"m\\0061ster_key" = '${key}'`);
    expect((await client.query('SHOW pg_llm.master_key')).rows[0]['pg_llm.master_key']).toMatch(/^held by pg_llm proxy /);
    const pieces = unique('mk-pieces');
    for (const name of [`'pg_llm.mas'\n'ter_key'`, `'pg_llm.mas' || 'ter_key'`]) {
      await expect(client.query(`SELECT set_config(${name}, '${pieces}', false)`), name).rejects.toMatchObject({ code: '0A000' });
    }
    const log = serverLog();
    for (const secret of [key, pieces]) expect(log).not.toContain(secret.slice(-16));
  });
});
