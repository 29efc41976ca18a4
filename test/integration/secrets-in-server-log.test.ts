// Secrets never reach the PostgreSQL server's log, read here as the test cluster writes it, with the test
// database logging every statement and every NOTICE: a call's api_key in the general (multi-pass) path, secrets
// written out in a call (keys, a config with credentials), which the proxy holds for the session that wrote them,
// SET pg_llm.master_key, which the proxy keeps while PostgreSQL gives the setting its usual semantics, and a key
// that a provider echoes in part, which reaches neither that log, nor the client, nor the audit and trace rows.

import { randomBytes } from 'node:crypto';
import { FRAGMENT_LENGTH } from '../../src/crypto/secret-fragments.js';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { afterThisTest, freshDatabase } from '../support/database.js';
import { clientOf, pgAiSuite } from '../support/pg-ai.js';
import { cluster, connection, startProxy } from '../support/proxy.js';
import { functionCall } from '../support/function-call.js';
import { RawClient, serialize } from '../support/raw-client.js';

/** set_config(text, text, boolean), which a fastpath FunctionCall names by oid. */
const SET_CONFIG_OID = 2078;

const suite = pgAiSuite();

function serverLog(): string {
  return readFileSync(path.join(cluster().socketDir, 'server.log'), 'utf8');
}

function unique(prefix: string): string {
  return `${prefix}-${randomBytes(12).toString('hex')}`;
}

/** True when `text` holds `secret`, or a fragment of it (FRAGMENT_LENGTH characters in a row). */
function holdsFragment(text: string, secret: string): boolean {
  for (let start = 0; start + FRAGMENT_LENGTH <= secret.length; start++) if (text.includes(secret.slice(start, start + FRAGMENT_LENGTH))) return true;
  return false;
}

function logHolds(secret: string): boolean {
  return holdsFragment(serverLog(), secret);
}

/** A client of the database straight to the server, ended after the test. */
async function directClient(database: string): Promise<pg.Client> {
  const client = new pg.Client(connection(cluster().port, 'postgres', database));
  await client.connect();
  afterThisTest(() => client.end());
  return client;
}

/**
 * A fresh database whose sessions log every statement and NOTICE (bind parameters aside: those are the client's
 * own, which PostgreSQL logs with or without the proxy), and whatever more `logging` settings say, pg_llm installed,
 * a table of questions; `setup` runs first, unlogged. Clients as postgres and as trust_user through the suite's proxy.
 */
async function loggedDatabase(setup = '', logging: string[] = []) {
  const { name, client: direct } = await freshDatabase();
  await direct.query(`CREATE TABLE asks (id int PRIMARY KEY, question text NOT NULL, answer text);
    INSERT INTO asks VALUES (1, 'first'), (2, 'second');
    GRANT ALL ON asks TO trust_user; ${setup}`);
  for (const setting of [`log_min_messages = notice`, `log_statement = 'all'`, `log_parameter_max_length = 0`, ...logging]) {
    await direct.query(`ALTER DATABASE ${name} SET ${setting}`);
  }
  const admin = await clientOf(suite.proxy, name);
  await admin.query('CREATE EXTENSION pg_llm');
  const reader = await clientOf(suite.proxy, name, 'trust');
  suite.fake.requests.length = 0;
  return { name, direct, admin, reader };
}

describe('the server log', () => {
  it("never gets a call's api_key in the general path: UPDATE … SET and a call inside WHERE", async () => {
    const secret = unique('sk-call');
    const { reader } = await loggedDatabase(`CREATE TABLE keys (k text); INSERT INTO keys VALUES ('${secret}'); GRANT SELECT ON keys TO trust_user`);
    suite.fake.script(...Array.from({ length: 4 }, () => ({ kind: 'answer' as const, content: 'SELECT 1' })));
    const updated = await reader.query(`UPDATE asks SET answer = generate_query(question, api_key => $1)`, [secret]);
    expect(updated.rowCount).toBe(2);
    const found = await reader.query(`SELECT id FROM asks WHERE generate_query(question || '?', (SELECT k FROM keys)) LIKE 'SELECT 1%' ORDER BY id`);
    expect(found.rows).toEqual([{ id: 1 }, { id: 2 }]);
    expect(suite.fake.requests.map((request) => request.authorization)).toEqual(Array(4).fill(`Bearer ${secret}`));
    expect(serverLog()).toContain(`UPDATE asks SET answer = generate_query(question, api_key => $1)`);
    expect(logHolds(secret)).toBe(false);
  });
});

describe('a secret written out in a call', () => {
  const authorizations = () => suite.fake.requests.map((request) => request.authorization);

  /** The query texts of the database's other sessions, sampled until `run` is done. */
  async function activityDuring(direct: pg.Client, name: string, run: Promise<unknown>): Promise<string[]> {
    let done = false;
    const finished = run.finally(() => (done = true));
    const seen: string[] = [];
    while (!done) {
      const { rows } = await direct.query(`SELECT query FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`, [name]);
      seen.push(...rows.map((row) => String(row.query)));
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    await finished;
    return seen;
  }

  it('reaches neither the server log nor pg_stat_activity, in either protocol and every path, and the calls get it', async () => {
    const { name, direct, admin, reader } = await loggedDatabase();
    const keys = Array.from({ length: 8 }, (_, i) => unique(`sk-literal${i}`));
    const config = JSON.stringify({ model_name: 'gpt-test', base_url: suite.fake.baseUrl, max_retries: 0 });
    await admin.query(`SELECT pg_llm_add_model(false, 'openai_compatible', 'literal', '${keys[0]}', '${config}')`);
    await admin.query(`SELECT pg_llm_add_model(false, 'mock', 'tokened', NULL, '${JSON.stringify({ mock_response: 'tokened ok', api_token: keys[1] })}'::text)`);
    suite.fake.script(...Array.from({ length: 8 }, () => ({ kind: 'answer' as const, content: 'SELECT 1' })));
    expect((await reader.query(`SELECT pg_llm_chat('literal', 'x') AS a`)).rows).toEqual([{ a: 'SELECT 1' }]);
    expect((await reader.query(`SELECT pg_llm_chat('tokened', 'x') AS a`)).rows).toEqual([{ a: 'tokened ok' }]);
    const stored = await admin.query(`SELECT config->>'api_token' AS token FROM _pg_llm_catalog.pg_llm_models WHERE instance_name = 'tokened'`);
    expect(stored.rows).toEqual([{ token: '****' }]);

    // The general path (UPDATE), and the projection path with the arguments' evaluation slow enough to be watched.
    expect((await reader.query(`UPDATE asks SET answer = generate_query(question, api_key => '${keys[2]}')`)).rowCount).toBe(2);
    const projection = reader.query(`SELECT id, generate_query(question || pg_catalog.pg_sleep(0.2)::text, '${keys[3]}'::text) AS q FROM asks`);
    const activity = await activityDuring(direct, name, projection);
    expect((await projection).rows).toHaveLength(2);
    expect(activity.some((text) => text.includes(`'held by pg_llm proxy `))).toBe(true);
    expect(holdsFragment(activity.join('\n'), keys[3]!)).toBe(false);

    // The extended protocol: an unnamed statement with a parameter, a named one (its key under COLLATE) run twice.
    expect((await reader.query(`SELECT generate_query(question, api_key => E'${keys[4]}') AS q FROM asks WHERE id = $1`, [1])).rows).toHaveLength(1);
    const named = { name: 'literal-key', text: `SELECT generate_query('q', api_key => '${keys[5]}' COLLATE "C") AS q` };
    for (const _ of [1, 2]) expect((await reader.query(named)).rows).toHaveLength(1);

    await admin.query(`CREATE EXTENSION ai; SET ai.openai_base_url = '${suite.fake.baseUrl}'`);
    const embedded = await admin.query(`SELECT pg_catalog.array_length(ai.openai_embed('text-embedding-3-small', 'x', api_key => '${keys[6]}')::real[], 1) AS n`);
    expect(embedded.rows[0].n).toBeGreaterThan(0);

    expect(authorizations()).toEqual([keys[0], ...Array(2).fill(keys[2]), ...Array(2).fill(keys[3]), keys[4], keys[5], keys[5], keys[6]].map((key) => `Bearer ${key}`));
    expect(serverLog()).toContain(`UPDATE asks SET answer = generate_query(question, api_key => 'held by pg_llm proxy `);
    for (const key of keys) expect(logHolds(key)).toBe(false);
  });

  it("is held for the session that wrote it: another session's reference is refused, not used, by a call and by an estimate", async () => {
    const { admin, reader } = await loggedDatabase();
    const key = unique('sk-victim');
    const marker = unique('marker');
    suite.fake.script({ kind: 'answer', content: 'SELECT 1' });
    await admin.query(`SELECT generate_query('${marker}', api_key => '${key}')`);
    const reference = new RegExp(`${marker}', api_key => '(held by pg_llm proxy [0-9a-f]+)'`).exec(serverLog())![1]!;
    const refused = { code: '22023', hint: expect.stringContaining('another session') };
    await expect(reader.query(`SELECT generate_query('x', api_key => '${reference}')`)).rejects.toMatchObject(refused);
    await expect(reader.query(`SELECT generate_query('x', api_key => $1)`, [reference])).rejects.toMatchObject(refused);
    // An estimate resolves the references of the calls it finds as the calls would.
    const estimate = { text: 'SELECT * FROM pg_llm_estimate($1)', values: [`SELECT generate_query('x', api_key => '${reference}')`] };
    await expect(reader.query(estimate)).rejects.toMatchObject(refused);
    expect((await admin.query(estimate)).rows).toMatchObject([{ model: null, calls: '1' }]);
    expect(authorizations()).toEqual([`Bearer ${key}`]);
    expect(logHolds(key)).toBe(false);
  });
});

describe("pgai's jsonb headers, query and config, and a server URL with credentials, written out in a call", () => {
  it('reach neither the server log nor an error the provider echoes them in, and the request gets them', async () => {
    const { admin } = await loggedDatabase();
    const [header, nested, built, query, apiKey, password] = ['sk-header', 'sk-nested', 'sk-built', 'sk-query', 'sk-apikey', 'url-pw'].map(unique) as [string, string, string, string, string, string];
    await admin.query(`CREATE EXTENSION ai; SET ai.openai_base_url = '${suite.fake.baseUrl}'`);
    const config = JSON.stringify({ max_retries: 0, default_headers: { 'x-gateway-key': nested } });
    await admin.query(
      `SELECT ai.openai_embed('text-embedding-3-small', 'x', api_key => '${apiKey}', extra_headers => '{"Authorization": "Bearer ${header}"}'::jsonb,
                              extra_query => '{"key": "${query}"}', client_config => '${config}')`,
    );
    expect(suite.fake.requests[0]).toMatchObject({ authorization: `Bearer ${header}`, path: `/v1/embeddings?key=${query}`, headers: expect.objectContaining({ 'x-gateway-key': nested }) });
    const { rows } = await admin.query(`SELECT ai.openai_client_config(base_url => 'http://svc:${password}@gw.example/v1', default_headers => '{"api-key": "${built}"}') AS c`);
    expect(rows).toEqual([{ c: { base_url: expect.stringMatching(/^held by pg_llm proxy /), default_headers: expect.stringMatching(/^held by pg_llm proxy /) } }]);

    suite.fake.script({ kind: 'error', status: 401, message: `Incorrect API key provided: ${header.slice(2)} via ${nested.slice(0, -2)}` });
    const error = await admin
      .query(`SELECT ai.openai_embed('text-embedding-3-small', 'x', api_key => '${apiKey}', extra_headers => '{"Authorization": "Bearer ${header}"}', client_config => '${config}')`)
      .catch((caught: unknown) => caught);
    expect(error).toMatchObject({ code: '28000', message: expect.stringContaining('Incorrect API key provided: **** via ****') });
    expect(serverLog()).toContain(`extra_headers => '"held by pg_llm proxy `);
    // Review W1: a credential in extra_body, held back from the server as the others are, echoed by a server that
    // quotes the body field it refuses.
    const body = unique('sk-body');
    suite.fake.script({ kind: 'error', status: 422, message: `unknown field api_key: "${body}"` });
    const refused = await admin
      .query(`SELECT ai.openai_embed('text-embedding-3-small', 'x', api_key => '${apiKey}', extra_body => '{"api_key": "${body}"}', client_config => '${config}')`)
      .catch((caught: unknown) => caught);
    expect(refused).toMatchObject({ message: expect.stringContaining('unknown field api_key: "****"') });
    for (const secret of [header, nested, built, query, apiKey, password, body]) expect(logHolds(secret)).toBe(false);
  });
});

describe("a server URL with credentials and no scheme in a pgai call, as Ollama's clients take a host", () => {
  // Review S: user:key@host and host?key were read as a URL of scheme "user:", or no URL, and not held.
  it('reaches neither the server log nor another role, written out or bound', async () => {
    const { admin } = await loggedDatabase('', ['log_parameter_max_length = -1']);
    await admin.query('CREATE EXTENSION ai');
    const [user, query] = [unique('ollama-user-key'), unique('ollama-query-key')];
    const host = new URL(suite.fake.baseUrl).host;
    for (const given of [`u:${user}@${host}`, `${host}?${query}`]) {
      await admin.query(`SELECT ai.ollama_embed('llama3', 'x', host => '${given}')`).catch(() => undefined);
      await admin.query(`SELECT ai.ollama_embed('llama3', 'x', host => $1)`, [given]).catch(() => undefined);
    }
    expect(logHolds(user)).toBe(false);
    expect(logHolds(query)).toBe(false);
  });
});

describe('a secret argument computed from string constants written in the call', () => {
  it('is refused by the proxy, in either protocol, and reaches neither the server log nor pg_stat_activity', async () => {
    const { direct, admin, reader } = await loggedDatabase();
    // Short names: any 8 characters of a key in a row count as a leak.
    const keys = ['bo', 'cc', 'co', 'fm', 'sb', 'hd', 'ur', 'js', 'es', 'ex', 'qn'].map((form) => unique(`sk-${form}`));
    const queryName = keys[10]!;
    const [built, concatenated, coalesced, formatted, selected, header, password, json, estimated, extended] = keys as [string, ...string[]];
    const refused = [
      `SELECT pg_llm_add_model(false, 'openai_compatible', 'built', NULL,
              jsonb_build_object('model_name', 'gpt-test', 'base_url', '${suite.fake.baseUrl}', 'api_key', '${built}')::text)`,
      `SELECT pg_llm_add_model(false, 'openai_compatible', 'concat', '${concatenated}' || '', '{"model_name": "gpt-test"}')`,
      `SELECT generate_query('q', api_key => coalesce('${coalesced}'))`,
      `SELECT generate_query(question, api_key => format('%s', '${formatted}')) FROM asks`,
      `UPDATE asks SET answer = explain_query('SELECT 1', (SELECT '${selected}'))`,
      `SELECT ai.openai_embed('m', 'x', extra_headers => jsonb_build_object('Authorization', 'Bearer ${header}'))`,
      // A query parameter's name may be the key (review S): ?sk-…= of the request.
      `SELECT ai.openai_embed('m', 'x', extra_query => jsonb_build_object('${queryName}', ''))`,
      `SELECT pg_llm_add_model(false, 'openai_compatible', 'url', NULL, json_build_object('base_url', 'http://svc:${password}@gw.example/v1')::text)`,
      `SELECT pg_llm_add_model(false, 'openai_compatible', 'json', NULL, '{"model_name": "gpt-test", "api_key": "' || '${json}' || '"}')`,
      `SELECT * FROM pg_llm_estimate('SELECT generate_query(question, api_key => ''${estimated}'' || '''') FROM asks')`,
    ];
    for (const sql of refused) {
      const error = await admin.query(sql).catch((caught: unknown) => caught);
      expect(error, sql).toMatchObject({ code: '0A000', message: expect.stringContaining('is computed from string constants written in the statement'), hint: expect.stringContaining('parameter') });
      expect((error as { routine?: string }).routine, 'answered by the proxy, not the server').toBeUndefined();
    }
    const parsed = await reader.query({ name: 'computed', text: `SELECT generate_query($1, api_key => '${extended}' || '')`, values: ['q'] }).catch((caught: unknown) => caught);
    expect(parsed).toMatchObject({ code: '0A000' });
    expect((await reader.query('SELECT 1 AS fine')).rows).toEqual([{ fine: 1 }]);

    const { rows } = await direct.query(`SELECT query FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()`);
    expect(rows.length).toBeGreaterThan(0);
    expect(suite.fake.requests).toHaveLength(0);
    for (const key of keys) {
      expect(holdsFragment(rows.map((row) => String(row.query)).join('\n'), key), key).toBe(false);
      expect(logHolds(key), key).toBe(false);
    }
  });

  it('works when its constants cannot be part of a secret: a config built of names and plain values, a setting, a parameter', async () => {
    const key = unique('sk-set');
    const { name, direct, admin, reader } = await loggedDatabase();
    // By the session that set up the database, which logs nothing.
    await direct.query(`ALTER ROLE trust_user IN DATABASE ${name} SET app.llm_key = '${key}'`);
    const modelKey = unique('sk-prm');
    await admin.query(
      `SELECT pg_llm_add_model(false, 'openai_compatible', 'built', $1,
              jsonb_build_object('model_name', 'gpt-' || 'test', 'base_url', '${suite.fake.baseUrl}', 'max_retries', 0, 'api_key', $1::text)::text)`,
      [modelKey],
    );
    suite.fake.script(...Array.from({ length: 2 }, () => ({ kind: 'answer' as const, content: 'SELECT 1' })));
    expect((await admin.query(`SELECT pg_llm_chat('built', 'x') AS a`)).rows).toEqual([{ a: 'SELECT 1' }]);
    const reconnected = await clientOf(suite.proxy, name, 'trust');
    const generated = await reconnected.query(`SELECT generate_query('q', api_key => coalesce(current_setting('app.llm_key'), '')) AS q`);
    expect(generated.rows[0].q).toMatch(/^SELECT 1\b/);
    expect(suite.fake.requests.map((request) => request.authorization)).toEqual([`Bearer ${modelKey}`, `Bearer ${key}`]);
    const shown = await reader.query(`SELECT config->>'api_key' AS k, config->>'model_name' AS m FROM _pg_llm_catalog.pg_llm_models WHERE instance_name = 'built'`);
    expect(shown.rows).toEqual([{ k: '****', m: 'gpt-test' }]);
    expect(logHolds(key)).toBe(false);
    expect(logHolds(modelKey)).toBe(false);
  });
});

describe('a statement that calls an LLM function and that the parser refuses', () => {
  /** Each with a secret: at a secret argument (named, positional, a jsonb's), or of a key's shape anywhere. */
  const withSecret = (key: string, plain: string): string[] => [
    `SELECT generate_query('q', api_key => '${key}' oops)`,
    `SELECT 1; SELECT generate_query('q' '${key}')`,
    `SELECT explain_query('SELECT 1', '${plain}'::text FROM t`,
    `SELECT ai.openai_embed('m', 'x', extra_headers => '{"x-gateway": "${plain}"}' WHERE)`,
    `SELECT generate_query('q', 'auto') ,, '${key}'`,
  ];

  it("is answered by the proxy when it holds a secret: PostgreSQL's error and position, and the server never gets it", async () => {
    const { direct, admin } = await loggedDatabase();
    await admin.query('CREATE EXTENSION ai');
    const [key, plain] = [unique('sk-typo'), unique('typo')];
    // The server's own answers, for texts of the same shape whose secrets are not secret.
    const [shownKey, shownPlain] = ['x'.repeat(key.length), 'y'.repeat(plain.length)];
    const theirs = withSecret(shownKey, shownPlain);
    for (const [i, sql] of withSecret(key, plain).entries()) {
      const expected = (await direct.query(theirs[i]!).catch((failure: unknown) => failure)) as { message: string; position: string };
      const error = await admin.query(sql).catch((caught: unknown) => caught);
      expect(error, sql).toMatchObject({ code: '42601', message: expected.message.replaceAll(shownKey, key), position: expected.position });
      expect((error as { routine?: string }).routine, 'answered by the proxy, not the server').toBeUndefined();
    }
    expect(logHolds(key)).toBe(false);
    expect(logHolds(plain)).toBe(false);
  });

  it('fails the block it stands in, on both sides, in either protocol', async () => {
    const { name } = await loggedDatabase();
    const key = unique('sk-typo');
    const raw = await RawClient.session(suite.proxy.port, { database: name });
    afterThisTest(async () => raw.end());
    const statusAfter = (messages: Array<{ name: string }>) => (messages.at(-1) as unknown as { status: string }).status;
    const errorIn = (messages: Array<{ name: string }>) => messages.find((message) => message.name === 'error') as unknown as { code: string } | undefined;
    const typo = `SELECT generate_query('q', api_key => '${key}' oops)`;

    const outside = await raw.query(typo);
    expect([errorIn(outside)?.code, statusAfter(outside)]).toEqual(['42601', 'I']);
    await raw.query('BEGIN');
    const inside = await raw.query(typo);
    expect([errorIn(inside)?.code, statusAfter(inside)]).toEqual(['42601', 'E']);
    const next = await raw.query('SELECT 1');
    expect([errorIn(next)?.code, statusAfter(next)]).toEqual(['25P02', 'E']);
    expect(statusAfter(await raw.query('ROLLBACK'))).toBe('I');

    const parse = () => [serialize.parse({ text: typo, types: [] }), serialize.bind({}), serialize.execute({}), serialize.sync()];
    raw.send(...parse());
    const parsed = await raw.until('readyForQuery');
    expect([errorIn(parsed)?.code, statusAfter(parsed), parsed.length]).toEqual(['42601', 'I', 2]);
    await raw.query('BEGIN');
    raw.send(...parse());
    const parsedInside = await raw.until('readyForQuery');
    expect([errorIn(parsedInside)?.code, statusAfter(parsedInside)]).toEqual(['42601', 'E']);
    expect(errorIn(await raw.query('SELECT 1'))?.code).toBe('25P02');
    await raw.query('ROLLBACK');
    expect(logHolds(key)).toBe(false);
  });

  it('goes to the server as written when it holds no secret, and so does one that names no LLM function', async () => {
    const { admin } = await loggedDatabase();
    const marker = unique('marker');
    for (const sql of [`SELECT generate_query('${marker}' oops)`, `SELECT '${unique('sk-other')}', '${marker}' FROM`]) {
      const error = await admin.query(sql).catch((caught: unknown) => caught);
      expect(error).toMatchObject({ code: '42601', routine: 'scanner_yyerror' });
      expect(serverLog()).toContain(sql);
    }
  });
});

describe('a statement given to pg_llm_estimate or explained through the proxy', () => {
  /**
   * Besides every statement and NOTICE: the statement of every notice and error, and the plan and text of every
   * statement the server runs, nested ones too (auto_explain; its bind parameters aside, as the rest's, from
   * PostgreSQL 16 on).
   */
  const EVERYTHING = [
    `log_min_error_statement = notice`,
    `session_preload_libraries = 'auto_explain'`,
    `"auto_explain.log_min_duration" = 0`,
    `"auto_explain.log_nested_statements" = on`,
    `"auto_explain.log_parameter_max_length" = 0`,
  ];
  /** An UPDATE of both questions whose call names `key`, written inside a constant that quotes with `quote`. */
  const update = (key: string, quote = "'") => `UPDATE asks SET answer = generate_query(question, api_key => ${quote}${key}${quote})`;
  /** What pg_llm_estimate says of it: two calls of a function whose model is not known in advance. */
  const ESTIMATE = [{ model: null, calls: '2', distinct_calls: '2', input_tokens: null, output_tokens: null, cost_usd: null }];

  it('reaches the server only as references, whatever the quoting of the sql argument, and is estimated as it would run', async () => {
    const { reader } = await loggedDatabase('', EVERYTHING);
    // Short names: any 8 characters of a key in a row count as a leak.
    const keys = ['qt', 'esc', 'dlr', 'tag', 'prm'].map((form) => unique(`sk-${form}`)) as [string, string, string, string, string];
    const forms = [
      `SELECT * FROM pg_llm_estimate('${update(keys[0], "''")}')`,
      `SELECT * FROM pg_llm_estimate(E'\\t${update(keys[1], "\\'")}')`,
      `SELECT * FROM pg_llm_estimate($$${update(keys[2])}$$)`,
      `SELECT * FROM pg_llm_estimate(sql => $sql$${update(keys[3])}$sql$::text)`,
    ];
    for (const sql of forms) expect((await reader.query(sql)).rows, sql).toEqual(ESTIMATE);
    // The extended protocol: a named statement, run twice; the statement given as a parameter.
    for (const _ of [1, 2]) expect((await reader.query({ name: 'estimate', text: forms[3]! })).rows).toEqual(ESTIMATE);
    expect((await reader.query('SELECT * FROM pg_llm_estimate($1)', [update(keys[4])])).rows).toEqual(ESTIMATE);
    expect((await reader.query('SELECT count(*)::int AS answered FROM asks WHERE answer IS NOT NULL')).rows).toEqual([{ answered: 0 }]);
    expect(suite.fake.requests).toHaveLength(0);
    for (const key of keys) expect(logHolds(key), key).toBe(false);
    expect(serverLog()).toContain(`pg_llm_estimate($pg_llm$${update('held by pg_llm proxy ').slice(0, -2)}`);
    expect(serverLog()).toContain(`(ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) ${update('held by pg_llm proxy ').slice(0, -2)}`);
  });

  it('shows in pg_stat_activity only as references, in the statement and in the one the estimate runs', async () => {
    const { name, direct, reader } = await loggedDatabase('CREATE TABLE gate (); GRANT SELECT ON gate TO trust_user');
    const [gateKeeper, rowKeeper] = await Promise.all([directClient(name), directClient(name)]);
    const key = unique('sk-seen');
    /** The query of the session waiting for a lock, once it is one that `matches`. */
    const waiting = async (matches: RegExp): Promise<string> => {
      let query = '';
      const waiter = async () => (query = (await direct.query(`SELECT query FROM pg_stat_activity WHERE datname = $1 AND wait_event_type = 'Lock'`, [name])).rows[0]?.query ?? '');
      // Before it, the proxy checks the statement it estimates: catalog reads that take a while on a busy machine.
      await expect.poll(waiter, { timeout: 20_000 }).toMatch(matches);
      return query;
    };
    await gateKeeper.query('BEGIN; LOCK TABLE gate');
    await rowKeeper.query('BEGIN; SELECT * FROM asks FOR UPDATE');
    const estimate = reader.query(`SELECT * FROM pg_llm_estimate('${update(key, "''")}') WHERE (SELECT count(*) FROM gate) = 0`);
    const statement = await waiting(/^SELECT \* FROM pg_llm_estimate/);
    await gateKeeper.query('COMMIT');
    // The estimate's UPDATE waits for the rows.
    const estimated = await waiting(/^EXPLAIN \(ANALYZE/);
    await rowKeeper.query('COMMIT');
    expect((await estimate).rows).toEqual(ESTIMATE);
    expect(holdsFragment(`${statement}\n${estimated}`, key)).toBe(false);
    expect(statement).toContain(`pg_llm_estimate($pg_llm$${update('held by pg_llm proxy ').slice(0, -2)}`);
    expect(estimated).toContain(update('held by pg_llm proxy ').slice(0, -2));
    expect(logHolds(key)).toBe(false);
  });

  it('reaches the server only as references through EXPLAIN, whose NOTICE counts its calls', async () => {
    const { reader } = await loggedDatabase('', EVERYTHING);
    const key = unique('sk-expl');
    const notices: string[] = [];
    reader.on('notice', (notice) => notices.push(notice.message!));
    const plan = await reader.query(`EXPLAIN ${update(key)}`);
    expect(plan.rows.map((row) => row['QUERY PLAN']).join('\n')).toContain('Update on asks');
    expect(notices).toEqual(['pg_llm: the statement would make 2 model calls (its rows call 2 times)']);
    expect(suite.fake.requests).toHaveLength(0);
    expect(logHolds(key)).toBe(false);
  });

  it('reaches neither the server nor the error when the statement fails: a syntax error in it, at its place, or one it raises as it runs', async () => {
    const { reader } = await loggedDatabase('', EVERYTHING);
    const keys = ['qt', 'esc', 'dlr', 'prm', 'out', 'run'].map((form) => unique(`key-${form}`)) as [string, string, string, string, string, string];
    const failure = (sql: string, parameters?: string[]) =>
      reader.query(sql, parameters).then(
        () => ({}) as Record<string, unknown>,
        (caught: unknown) => caught as Record<string, unknown>,
      );
    const typo = (key: string, quote = "'") => `SELECT generate_query(question, api_key => ${quote}${key}${quote} oops) FROM asks`;
    const invalid = { code: '42601', message: 'the sql argument of pg_llm_estimate is not valid SQL: syntax error at or near "oops"' };
    // PostgreSQL counts an error's position in characters: the escapes and the 'é' before the error count as written.
    const inConstants = [
      `SELECT * FROM pg_llm_estimate('${typo(keys[0], "''")}')`,
      `SELECT 'é', * FROM pg_llm_estimate(E'\\x53ELECT \\'\\\\\\', ${typo(keys[1], "\\'").slice('SELECT '.length)}')`,
      `SELECT * FROM pg_llm_estimate($$${typo(keys[2])}$$)`,
    ];
    const errors = [];
    for (const sql of inConstants) {
      const error = await failure(sql);
      expect(error, sql).toMatchObject({ ...invalid, position: String([...sql.slice(0, sql.indexOf('oops'))].length + 1) });
      expect(error.routine, 'answered by the proxy, not the server').toBeUndefined();
      errors.push(error);
    }
    errors.push(await failure('SELECT * FROM pg_llm_estimate($1)', [typo(keys[3])]));
    expect(errors.at(-1)).toMatchObject(invalid);
    errors.push(await failure(`SELECT * FROM pg_llm_estimate('SELECT generate_query(question, ''${keys[4]}'') FROM asks') WHERE`));
    expect(errors.at(-1)).toMatchObject({ code: '42601', message: 'syntax error at end of input', routine: undefined });
    errors.push(await failure(`SELECT * FROM pg_llm_estimate('SELECT generate_query(nosuch, api_key => ''${keys[5]}'') FROM asks')`));
    expect(errors.at(-1)).toMatchObject({ code: '42703', message: 'column "nosuch" does not exist' });
    expect((await reader.query('SELECT 1 AS fine')).rows).toEqual([{ fine: 1 }]);
    for (const key of keys) {
      expect(holdsFragment(JSON.stringify(errors.map((error) => ({ ...error, text: String(error) }))), key), key).toBe(false);
      expect(logHolds(key), key).toBe(false);
    }
  });

  // Review F2: a key setting, or a DO block's key, in the SQL reached the server inside the statement, logged before
  // the estimate refused it.
  it('is refused before the server gets it when a statement in it sets a key setting or holds code with a key', async () => {
    const { name, direct, reader } = await loggedDatabase('', EVERYTHING);
    const keys = Array.from({ length: 8 }, (_, i) => unique(`sk-est-${i}`));
    const statements = [
      `SELECT pg_llm_estimate('SET ai.openai_api_key = ''${keys[0]}''')`,
      `SELECT pg_llm_estimate($s$SELECT 1 FROM (SELECT set_config('ai.openai_api_key', '${keys[1]}', false)) s$s$)`,
      `SELECT pg_llm_estimate($s$SELECT pg_llm_chat('m', 'x') FROM (SELECT set_config('ai.openai_api_key', '${keys[2]}', false)) s$s$)`,
      `SELECT pg_llm_estimate($s$DO $$ BEGIN PERFORM pg_llm_add_model(false, 'openai', 'x', '${keys[3]}', '{}'); END $$$s$)`,
      `SELECT pg_llm_estimate($s$DO $$ BEGIN PERFORM pg_llm_add_model(false, 'openai', 'x', k, '{}') FROM (SELECT '${keys[4]}' AS k) s; END $$$s$)`,
      `SELECT pg_llm_estimate($s$CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 1' SET ai.openai_api_key = '${keys[5]}'$s$)`,
      // Computed from constants, the SQL is not read: refused whatever it holds.
      `SELECT pg_llm_estimate('SET ai.openai_api_key = ''' || '${keys[7]}' || '''')`,
    ];
    for (const statement of statements) await expect(reader.query(statement), statement).rejects.toMatchObject({ code: '0A000', routine: undefined });
    // The extended protocol's Parse likewise.
    await expect(reader.query({ name: 'keyed-estimate', text: `SELECT pg_llm_estimate('SET ai.team_key = ''${keys[6]}''')` })).rejects.toMatchObject({ code: '0A000' });
    const activity = await direct.query(`SELECT string_agg(query, ' ') AS queries FROM pg_stat_activity WHERE datname = $1`, [name]);
    for (const key of keys) {
      expect(holdsFragment(String(activity.rows[0]?.queries), key), key).toBe(false);
      expect(logHolds(key), key).toBe(false);
    }
    expect((await reader.query('SELECT 1 AS fine')).rows).toEqual([{ fine: 1 }]);
  });
});

describe('a model config that does not parse', () => {
  it('is refused without being quoted, so a key in it reaches neither the client nor the server log', async () => {
    const { reader } = await loggedDatabase();
    const key = unique('sk-broken');
    const error = await reader.query(`SELECT pg_llm_add_model(false, 'mock', 'broken', NULL, '{"api_key": ${key}}')`).catch((caught: unknown) => caught);
    expect(error).toMatchObject({ code: '22P02' });
    expect(holdsFragment(JSON.stringify([error, String(error)]), key)).toBe(false);
    expect(logHolds(key)).toBe(false);
  });
});

// Review F2: a base_url with a password that does not parse as a URL was not read for credentials, and reached the log.
describe("a model's base_url with credentials that does not parse as a URL", () => {
  it('is held like one that parses, and quoted neither in the error of a call nor in the config others read', async () => {
    const { reader } = await loggedDatabase();
    const password = unique('url-unparsed');
    const config = JSON.stringify({ model_name: 'm', base_url: `http://usr:${password}@[::1/v1`, max_retries: 0 });
    await reader.query(`SELECT pg_llm_add_model(false, 'openai_compatible', 'unparsed', NULL, '${config}')`);
    const failed = await reader.query(`SELECT pg_llm_chat('unparsed', 'x')`).catch((caught: unknown) => caught);
    expect(failed).toBeInstanceOf(Error);
    const { rows } = await reader.query(`SELECT config FROM _pg_llm_catalog.pg_llm_models WHERE instance_name = 'unparsed'`);
    expect(rows).toEqual([{ config: expect.objectContaining({ base_url: '****' }) }]);
    expect(holdsFragment(JSON.stringify([failed, String(failed)]), password)).toBe(false);
    expect(logHolds(password)).toBe(false);
  });
});

describe('SET pg_llm.master_key', () => {
  /** A model sealed under a master key of its own, which the suite's proxy does not have. */
  async function sealedModel() {
    const key = unique('master');
    const database = await loggedDatabase();
    const sealing = await startProxy({ masterKey: key });
    afterThisTest(() => sealing.stop());
    const owner = await clientOf(sealing, database.name);
    await owner.query(`SELECT pg_llm_add_model(false, 'mock', 'keyed', 'sk-sealed-api-key', '{"mock_response": "sealed ok"}')`);
    return { key, ...database };
  }

  async function opens(client: pg.Client): Promise<boolean> {
    try {
      return (await client.query(`SELECT pg_llm_chat('keyed', 'x') AS a`)).rows[0].a === 'sealed ok';
    } catch (error) {
      expect(error).toMatchObject({ code: '28000' });
      return false;
    }
  }

  it('is kept by the proxy: SET, SHOW, RESET, SET LOCAL, rollbacks, RESET ALL, DISCARD ALL in both protocols, and never logged', async () => {
    const { key, reader } = await sealedModel();
    expect(await opens(reader)).toBe(false);
    await reader.query(`SET pg_llm.master_key = '${key}'`);
    expect(await opens(reader)).toBe(true);
    const shown = (await reader.query('SHOW pg_llm.master_key')).rows[0]['pg_llm.master_key'];
    expect(shown).toMatch(/^held by pg_llm proxy /);
    await reader.query('RESET pg_llm.master_key');
    expect(await opens(reader)).toBe(false);

    await reader.query(`BEGIN; SET LOCAL pg_llm.master_key TO '${key}'`);
    expect(await opens(reader)).toBe(true);
    await reader.query('COMMIT');
    expect(await opens(reader)).toBe(false);

    await reader.query(`BEGIN; SET SESSION pg_llm.master_key = '${key}'; ROLLBACK`);
    expect(await opens(reader)).toBe(false);

    await reader.query(`SET pg_llm.master_key = '${key}'; BEGIN; SAVEPOINT s; RESET pg_llm.master_key`);
    expect(await opens(reader)).toBe(false);
    await reader.query('ROLLBACK TO SAVEPOINT s');
    expect(await opens(reader)).toBe(true);
    await reader.query('COMMIT');
    await reader.query('RESET ALL');
    expect(await opens(reader)).toBe(false);

    await reader.query({ name: 'set-key', text: `SET pg_llm.master_key = '${key}'` });
    expect(await opens(reader)).toBe(true);
    await reader.query('DISCARD ALL');
    expect(await opens(reader)).toBe(false);

    expect(serverLog()).toContain(`SET pg_llm.master_key = '${shown}'`);
    expect(logHolds(key)).toBe(false);
  });

  it('is refused where the server would keep or log the key, and a value set past the proxy is not used', async () => {
    const { key, name, admin, reader } = await sealedModel();
    const refusal = { code: '0A000', hint: expect.stringContaining('SET pg_llm.master_key') };
    await expect(admin.query(`ALTER ROLE trust_user IN DATABASE ${name} SET pg_llm.master_key = '${key}'`)).rejects.toMatchObject(refusal);
    await expect(admin.query({ name: 'alter-db', text: `ALTER DATABASE ${name} SET pg_llm.master_key = '${key}'` })).rejects.toMatchObject(refusal);
    await expect(reader.query(`SELECT set_config('pg_llm.master_key', '${key}', false)`)).rejects.toMatchObject(refusal);
    await expect(reader.query(`SET pg_llm.master_key = '${key}' oops`)).rejects.toMatchObject({ code: '42601' });
    expect((await reader.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);

    // A name computed in SQL, which the proxy cannot read: written out in pieces, it is refused as the whole name is.
    await expect(reader.query(`SELECT set_config('pg_llm.' || 'mas' || 'ter_key', 'own value', false)`)).rejects.toMatchObject({ code: '0A000' });
    await reader.query(`SELECT set_config(concat('pg_llm.mas', 'ter_key'), 'own value', false)`);
    await expect(reader.query(`SELECT pg_llm_chat('keyed', 'x')`)).rejects.toMatchObject({ code: '22023', hint: expect.stringContaining('SET pg_llm.master_key') });
    expect(logHolds(key)).toBe(false);
  });

  it('is refused at connection start, where the server would keep it in clear: in options or as a parameter of its own', async () => {
    const { key, name } = await sealedModel();
    for (const given of [{ options: `-c pg_llm.master_key=${key}` }, { options: `--PG_LLM.Master_Key=${key}` }]) {
      const client = new pg.Client({ ...connection(suite.proxy.port, 'trust', name), ...given });
      client.on('error', () => undefined);
      await expect(client.connect()).rejects.toMatchObject({ code: '0A000', severity: 'FATAL', hint: expect.stringContaining('SET pg_llm.master_key in the session') });
    }
    const raw = await RawClient.open(suite.proxy.port);
    afterThisTest(async () => void raw.socket.destroy());
    raw.send(serialize.startup({ user: 'trust_user', database: name, 'pg_llm.master_key': key }));
    expect((await raw.until('error')).at(-1)).toMatchObject({ code: '0A000', severity: 'FATAL' });
    await raw.untilClosed();
    // Other options still reach the server.
    const other = new pg.Client({ ...connection(suite.proxy.port, 'trust', name), options: '-c application_name=startup-options' });
    await other.connect();
    afterThisTest(() => other.end());
    expect((await other.query('SHOW application_name')).rows).toEqual([{ application_name: 'startup-options' }]);
    expect(logHolds(key)).toBe(false);
  });
});

describe("a URL with credentials in one of pgai's server settings", () => {
  it('is refused wherever the server would keep it in clear, and a URL without any is set as before', async () => {
    const { name, admin, reader } = await loggedDatabase();
    const secret = unique('urlsecret');
    const refusal = { code: '22023', message: expect.stringMatching(/cannot carry a user, a password or a query/), hint: expect.stringContaining('ai.openai_api_key') };
    const refused = [
      `SET ai.openai_base_url = 'http://127.0.0.1:9/v1?key=${secret}'`,
      `SET LOCAL ai.ollama_host TO 'http://user:${secret}@127.0.0.1:9'`,
      `SET "AI".anthropic_base_url = E'http://${secret}@127.0.0.1:9'`,
      `SELECT set_config('ai.cohere_base_url', 'http://127.0.0.1:9/?token=${secret}', false)`,
      `SELECT set_config('ai.voyageai_base_url', 'http://127.0.0.1:9/' || '?token=${secret}', true)`,
      `ALTER ROLE trust_user IN DATABASE ${name} SET ai.openai_base_url = 'http://127.0.0.1:9/?k=${secret}'`,
      `ALTER DATABASE ${name} SET ai.ollama_host = 'http://u:${secret}@127.0.0.1:9'`,
      // A query of names alone, a host without a scheme (Ollama's functions call it over http://), pieces joined in SQL.
      `SET ai.openai_base_url = 'http://127.0.0.1:9/v1?${secret}'`,
      `SET ai.ollama_host = 'user:${secret}@127.0.0.1:9'`,
      `SELECT set_config('ai.openai_base_url', concat('http://u:', '${secret}@127.0.0.1:9/v1'), false)`,
      `SELECT set_config('ai.openai_base_url', format('http://u:%s@127.0.0.1:9/v1', '${secret}'), false)`,
      `SELECT set_config('ai.openai_base_url', x, false) FROM (VALUES ('http://u:${secret}@127.0.0.1:9/v1')) v(x)`,
      `UPDATE pg_settings SET setting = 'http://u:${secret}@127.0.0.1:9/v1' WHERE name = 'ai.openai_base_url'`,
      // What a URL parser leaves out or reads as a slash (review Q).
      `SET ai.openai_base_url = E'\\thttp://u:${secret}@127.0.0.1:9/v1'`,
      `SET ai.openai_base_url = 'http:\\\\u:${secret}@127.0.0.1:9/v1'`,
    ];
    for (const sql of refused) {
      await expect(admin.query(sql), sql).rejects.toMatchObject(refusal);
      await expect(reader.query({ name: unique('prepared'), text: sql }), sql).rejects.toMatchObject(refusal);
    }
    await expect(admin.query(`ALTER ROLE trust_user IN DATABASE ${name} SET ai.openai_base_url FROM CURRENT`)).rejects.toMatchObject({ code: '0A000', message: 'ai.openai_base_url cannot be set FROM CURRENT' });
    // Code the server keeps or runs as text, which the proxy does not run: refused as a key written there is.
    for (const code of [
      `DO $$ BEGIN PERFORM set_config('ai.openai_base_url', 'http://u:${secret}@127.0.0.1:9', false); END $$`,
      `CREATE FUNCTION f() RETURNS void LANGUAGE sql AS $$ SET ai.ollama_host = 'http://127.0.0.1:9/?k=${secret}' $$`,
      `DO $$ BEGIN PERFORM set_config('ai.openai_base_url', 'http://u:' || '${secret}@127.0.0.1:9/v1', false); END $$`,
    ]) {
      await expect(admin.query(code), code).rejects.toMatchObject({ code: '0A000', message: expect.stringMatching(/cannot set ai\.\w+ to a URL that carries a user, a password or a query/) });
    }
    // With standard_conforming_strings off the server reads a backslash as an escape: 'u\:k@h' is a user and a password.
    await reader.query('SET standard_conforming_strings = off');
    for (const escaped of [`SET ai.openai_base_url = 'http://u\\:${secret}@127.0.0.1:9/v1'`, `SELECT set_config('ai.ollama_host', 'http://u\\x3a${secret}@127.0.0.1:9', false)`]) {
      await expect(reader.query(escaped), escaped).rejects.toMatchObject(refusal);
    }
    await reader.query('SET standard_conforming_strings = on');
    expect(JSON.stringify(await admin.query('BEGIN').then(() => admin.query(refused[0]!)).catch((error: unknown) => error))).not.toContain(secret);
    // The block failed as any statement's error fails it, and the session carries on after it.
    await expect(admin.query('SELECT 1')).rejects.toMatchObject({ code: '25P02' });
    await admin.query('ROLLBACK');
    await reader.query(`SET ai.openai_base_url = '${suite.fake.baseUrl}'`);
    expect((await reader.query('SHOW ai.openai_base_url')).rows).toEqual([{ 'ai.openai_base_url': suite.fake.baseUrl }]);
    expect(logHolds(secret)).toBe(false);
  });

  // Review P (rp1-1): bound as a parameter, such a URL reached the server, its log of bind parameters and the setting.
  it('is refused at Bind when bound whole, and at Parse when bound into an expression or in PREPARE', async () => {
    // Bind parameters logged whole: what the server gets bound would show.
    const { name, reader } = await loggedDatabase('', ['log_parameter_max_length = -1']);
    const secret = unique('urlsecret');
    const setter = `SELECT set_config('ai.openai_base_url', $1, false)`;
    const refusal = { code: '22023', message: 'the URL of ai.openai_base_url cannot carry a user, a password or a query' };
    for (const bound of [`http://u:${secret}@127.0.0.1:9/v1`, `http://127.0.0.1:9/v1?key=${secret}`, `u:${secret}@127.0.0.1:9`]) {
      await expect(reader.query(setter, [bound]), bound).rejects.toMatchObject(refusal);
      await expect(reader.query(`SELECT set_config('ai.ollama_host', $1::text, false)`, [bound]), bound).rejects.toMatchObject({ code: '22023' });
    }
    // A named statement: bound with a plain URL it runs; bound again with credentials it is refused; closed, forgotten.
    const named = { name: unique('setter'), text: setter };
    await reader.query({ ...named, values: [suite.fake.baseUrl] });
    await expect(reader.query({ ...named, values: [`http://u:${secret}@127.0.0.1:9/v1`] })).rejects.toMatchObject(refusal);
    expect((await reader.query('SHOW ai.openai_base_url')).rows).toEqual([{ 'ai.openai_base_url': suite.fake.baseUrl }]);
    await expect(reader.query(`SELECT set_config('ai.openai_base_url', 'http://' || $1, false)`, [`u:${secret}@127.0.0.1:9`])).rejects.toMatchObject({
      code: '0A000',
      message: 'set_config cannot take a value of ai.openai_base_url computed from a bound parameter',
    });
    await expect(reader.query(`PREPARE url_setter(text) AS ${setter}`)).rejects.toMatchObject({ code: '0A000', message: 'a prepared statement cannot set ai.openai_base_url from its parameters' });
    // A Close the server skips (after an error in the pipeline) leaves the statement known: its Binds are still read.
    const raw = await RawClient.session(suite.proxy.port, { user: 'trust_user', database: name });
    afterThisTest(async () => void raw.socket.destroy());
    raw.send(serialize.parse({ name: 'kept', text: setter, types: [] }), serialize.sync());
    await raw.until('readyForQuery');
    raw.send(serialize.describe({ type: 'P', name: 'no_such_portal' }), serialize.close({ type: 'S', name: 'kept' }), serialize.sync());
    expect((await raw.until('readyForQuery')).find((message) => message.name === 'error')).toMatchObject({ code: '34000' });
    raw.send(serialize.bind({ statement: 'kept', values: [`http://u:${secret}@127.0.0.1:9/v1`] }), serialize.execute({}), serialize.sync());
    expect((await raw.until('readyForQuery')).find((message) => message.name === 'error')).toMatchObject({ code: '22023' });
    // So does an unnamed Parse too big to parse that the server skips: it is refused, and the statement stays known.
    raw.send(serialize.parse({ text: setter, types: [] }), serialize.sync());
    await raw.until('readyForQuery');
    raw.send(serialize.describe({ type: 'P', name: 'no_such_portal' }), serialize.parse({ text: `SELECT 1 /* ${'x'.repeat(10 * 1024 * 1024)} */`, types: [] }), serialize.sync());
    expect((await raw.until('readyForQuery', 30_000)).find((message) => message.name === 'error')).toMatchObject({ code: '34000' });
    raw.send(serialize.bind({ values: [`http://u:${secret}@127.0.0.1:9/v1`] }), serialize.execute({}), serialize.sync());
    expect((await raw.until('readyForQuery')).find((message) => message.name === 'error')).toMatchObject({ code: '22023' });
    // Past 4096 such statements a Parse is refused: the proxy would otherwise let go of one it still had to read.
    raw.send(...Array.from({ length: 4096 }, (_, i) => serialize.parse({ name: `many${i}`, text: setter, types: [] })), serialize.sync());
    const many = await raw.until('readyForQuery', 60_000);
    expect(many.filter((message) => message.name === 'parseComplete').length).toBeLessThan(4096);
    expect(many.find((message) => message.name === 'error')).toMatchObject({ code: '54000', message: expect.stringContaining('4096') });
    raw.send(serialize.bind({ statement: 'kept', values: [`http://u:${secret}@127.0.0.1:9/v1`] }), serialize.execute({}), serialize.sync());
    expect((await raw.until('readyForQuery')).find((message) => message.name === 'error')).toMatchObject({ code: '22023' });
    // A fastpath call of set_config (review R), and an UPDATE of pg_settings from a parameter, bound or EXECUTE's.
    raw.send(functionCall(SET_CONFIG_OID, 'ai.ollama_host', `http://u:${secret}@127.0.0.1:9`, 'false'));
    expect((await raw.until('readyForQuery')).find((message) => message.name === 'error')).toMatchObject({ code: '22023' });
    const fromParameter = { code: '0A000', message: 'an UPDATE of pg_settings cannot set ai.ollama_host from a parameter' };
    await expect(reader.query(`UPDATE pg_settings SET setting = $1 WHERE name = 'ai.ollama_host'`, [`http://u:${secret}@127.0.0.1:9`])).rejects.toMatchObject(fromParameter);
    await expect(reader.query(`PREPARE url_update(text) AS UPDATE pg_settings SET setting = $1 WHERE name = 'ai.ollama_host'`)).rejects.toMatchObject(fromParameter);
    // The session carries on, and the server never saw the credentials.
    expect((await reader.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
    expect(logHolds(secret)).toBe(false);
  });

  // Review S-E: a vectorizer's embedding config keeps its base_url, in its catalog row and the statement in the log.
  it("is refused in a vectorizer's embedding config, written out or bound", async () => {
    const create = (embedding: string) => `SELECT ai.create_vectorizer('public.asks'::regclass, loading => ai.loading_column('question'), embedding => ${embedding})`;
    const { admin } = await loggedDatabase('', ['log_parameter_max_length = -1']);
    await admin.query('CREATE EXTENSION ai');
    const secret = unique('vectorizer-url-key');
    const refusal = { code: '22023', message: expect.stringMatching(/base_url cannot carry a user, a password or a query$/), hint: expect.stringContaining('api_key_name') };
    for (const sql of [
      `SELECT ai.embedding_openai('m', 3, base_url => 'http://127.0.0.1:9/v1?key=${secret}')`,
      `SELECT ai.embedding_ollama('m', 3, 'u:${secret}@127.0.0.1:9')`,
      `SELECT ai.embedding_openai('m', 3, NULL, 'OPENAI_API_KEY', 'http://127.0.0.1:9/v1?' || '${secret}')`,
      `SELECT ai.vectorizer_embed(ai.embedding_ollama('m', 3, base_url => '127.0.0.1:9/?key=${secret}'), 'hello')`,
      // The config written out as JSON, or changed after its builder (review S-E's bypasses of the builder's check).
      create(`'{"implementation": "openai", "config_type": "embedding", "model": "m", "dimensions": 3, "base\\u005furl": "http://127.0.0.1:9/v1?key=${secret}"}'`),
      create(`ai.embedding_ollama('m', 3) || '{"base_url": "u:${secret}@127.0.0.1:9"}'`),
      create(`ai.embedding_ollama('m', 3) || jsonb_build_object('base_url', 'u:' || '${secret}@127.0.0.1:9')`),
      create(`jsonb_set(ai.embedding_openai('m', 3), '{base_url}', to_jsonb('http://127.0.0.1:9/v1?key=${secret}'::text))`),
      create(`jsonb_set(ai.embedding_ollama('m', 3), ARRAY['base_url'], to_jsonb('127.0.0.1:9/?' || '${secret}'))`),
      `UPDATE _pg_llm_catalog.pg_llm_vectorizers SET config = jsonb_set(config, '{embedding}', config -> 'embedding' || jsonb_build_object('base_url', 'http://127.0.0.1:9/' || '?${secret}'))`,
      // Review W2: a JSON string value, arguments by name, escapes in a path, VARIADIC pairs, a subscript assigned.
      `UPDATE _pg_llm_catalog.pg_llm_vectorizers SET config = jsonb_set(config, '{embedding,base_url}', '"http://u:${secret}@127.0.0.1:9/v1"')`,
      `UPDATE _pg_llm_catalog.pg_llm_vectorizers SET config = jsonb_insert(config, '{embedding,base_url}', jsonb '"127.0.0.1:9/?${secret}"')`,
      `UPDATE _pg_llm_catalog.pg_llm_vectorizers SET config = jsonb_set(jsonb_in => config, path => '{embedding,base_url}', replacement => to_jsonb('http://u:${secret}@127.0.0.1:9'::text))`,
      `UPDATE _pg_llm_catalog.pg_llm_vectorizers SET config = jsonb_set(config, '{embedding,base\\_url}', to_jsonb('http://u:${secret}@127.0.0.1:9'::text))`,
      create(`ai.embedding_ollama('m', 3) || jsonb_build_object(VARIADIC ARRAY['base_url', 'u:${secret}@127.0.0.1:9'])`),
      `UPDATE _pg_llm_catalog.pg_llm_vectorizers SET config['embedding']['base_url'] = '"http://u:${secret}@127.0.0.1:9"'`,
      // Review X1: pairs in an array literal, and jsonb_object's arrays.
      create(`ai.embedding_ollama('m', 3) || jsonb_build_object(VARIADIC '{base_url,http://u:${secret}@127.0.0.1:9}'::text[])`),
      create(`ai.embedding_ollama('m', 3) || jsonb_object('{base_url}', '{"u:${secret}@127.0.0.1:9"}')`),
      create(`ai.embedding_ollama('m', 3) || jsonb_object(ARRAY[['base_url', '127.0.0.1:9/?${secret}']])`),
      // Every one of duplicate keys: jsonb keeps the last, the log the statement.
      create(`'{"implementation": "ollama", "config_type": "embedding", "model": "m", "dimensions": 3, "base_url": "u:${secret}@127.0.0.1:9", "base_url": "127.0.0.1:9"}'`),
    ]) {
      await expect(admin.query(sql), sql).rejects.toMatchObject(refusal);
    }
    // Unqualified, under a search_path with ai in it.
    await admin.query('SET search_path = ai, public');
    await expect(admin.query(`SELECT embedding_ollama('m', 3, 'u:${secret}@127.0.0.1:9')`)).rejects.toMatchObject(refusal);
    await admin.query('RESET search_path');
    await expect(admin.query(`SELECT ai.embedding_openai('m', 3, base_url => $1)`, [`http://127.0.0.1:9/v1?key=${secret}`])).rejects.toMatchObject({ code: '0A000' });
    await expect(admin.query(`PREPARE built(text) AS SELECT ai.embedding_ollama('m', 3) || jsonb_build_object('base_url', $1)`)).rejects.toMatchObject({ code: '0A000' });
    // Without credentials it is the config as ever, and a URL elsewhere in the statement is no config's.
    expect((await admin.query(`SELECT ai.embedding_openai('m', 3, base_url => 'http://127.0.0.1:9/v1')->>'base_url' AS u`)).rows).toEqual([{ u: 'http://127.0.0.1:9/v1' }]);
    expect((await admin.query(`SELECT ai.embedding_openai('m', 3) ->> 'model' AS m, 'https://u@example.com/search?q=cats' AS t`)).rows).toEqual([{ m: 'm', t: 'https://u@example.com/search?q=cats' }]);
    expect(logHolds(secret)).toBe(false);
  });

  it('is refused at connection start: in options or as a parameter of its own', async () => {
    const { name } = await loggedDatabase();
    const secret = unique('urlsecret');
    for (const options of [`-c ai.openai_base_url=http://127.0.0.1:9/?key=${secret}`, `--ai.ollama-host=http://u:${secret}@127.0.0.1:9`]) {
      const client = new pg.Client({ ...connection(suite.proxy.port, 'trust', name), options });
      client.on('error', () => undefined);
      await expect(client.connect()).rejects.toMatchObject({ code: '22023', severity: 'FATAL', message: expect.not.stringContaining(secret) });
    }
    const raw = await RawClient.open(suite.proxy.port);
    afterThisTest(async () => void raw.socket.destroy());
    raw.send(serialize.startup({ user: 'trust_user', database: name, 'ai.anthropic_base_url': `http://${secret}@127.0.0.1:9` }));
    expect((await raw.until('error')).at(-1)).toMatchObject({ code: '22023', severity: 'FATAL' });
    await raw.untilClosed();
    const plain = new pg.Client({ ...connection(suite.proxy.port, 'trust', name), options: `-c ai.openai_base_url=${suite.fake.baseUrl}` });
    await plain.connect();
    afterThisTest(() => plain.end());
    expect((await plain.query('SHOW ai.openai_base_url')).rows).toEqual([{ 'ai.openai_base_url': suite.fake.baseUrl }]);
    expect(logHolds(secret)).toBe(false);
  });
});

describe('pg_llm.master_key named past SET', () => {
  const forms: Array<[string, (key: string) => string]> = [
    ['set_config with the name cast to text', (key) => `SELECT set_config('pg_llm.master_key'::text, '${key}', false)`],
    ['EXECUTE of a prepared set_config', (key) => `PREPARE setter(text, text) AS SELECT set_config($1, $2, false); EXECUTE setter('pg_llm.master_key', '${key}')`],
    ['set_config in a DO block', (key) => `DO $$BEGIN PERFORM set_config('pg_llm.master_key', '${key}', false); END$$`],
    ['UPDATE pg_settings', (key) => `UPDATE pg_settings SET setting = '${key}' WHERE name = 'pg_llm.master_key'`],
    ['set_config with an escaped name', (key) => `SELECT set_config(E'pg_llm.master\\x5fkey', '${key}', false)`],
  ];
  it.each(forms)('%s: refused before the server or its log get the key', async (_what, statement) => {
    const { reader } = await loggedDatabase();
    await reader.query(`SET pg_llm.master_key = '${unique('earlier')}'`);
    const key = unique('master');
    await expect(reader.query(statement(key))).rejects.toMatchObject({ code: '0A000' });
    expect((await reader.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
    expect(logHolds(key)).toBe(false);
  });

  it('SET with a Unicode-escaped name is held back like any SET of it', async () => {
    const { reader } = await loggedDatabase();
    const key = unique('master');
    await reader.query(`SET U&"pg_llm.master\\005fkey" = '${key}'`);
    expect((await reader.query(`SELECT current_setting('pg_llm.master_key') AS v`)).rows[0].v).toMatch(/^held by pg_llm proxy /);
    expect(logHolds(key)).toBe(false);
  });
});

// Review: the proxy read neither a DO block's body nor a function's, so a key written there reached the server as
// written: a DO block's call fails in the database and is logged with its error, a set_config in it left the key in
// the setting in clear, and a function's body kept it in pg_proc, where every role reads it.
describe('code kept as text, a DO block or a function body, that writes out a key', () => {
  const refusal = (what: string) => ({ code: '0A000', message: expect.stringMatching(new RegExp(`^${what} cannot `)), hint: expect.stringContaining('not in code stored or run in the database') });

  it("is refused before the server, its log or another role's code get the key", async () => {
    const { direct, reader } = await loggedDatabase('', ['log_min_error_statement = error']);
    const keys = Array.from({ length: 5 }, (_, i) => unique(`sk-body-${i}`));
    await expect(reader.query(`DO $$ BEGIN PERFORM pg_llm_add_model(false, 'openai', 'x', '${keys[0]}', '{}'); END $$`)).rejects.toMatchObject(refusal('a DO block'));
    await expect(reader.query(`DO $$ BEGIN PERFORM set_config('ai.openai_api_key', '${keys[1]}', false); END $$`)).rejects.toMatchObject(refusal('a DO block'));
    expect((await reader.query(`SELECT current_setting('ai.openai_api_key', true) AS key`)).rows).toEqual([{ key: null }]);
    await expect(reader.query(`CREATE FUNCTION pg_temp.register_x() RETURNS boolean LANGUAGE sql AS 'SELECT pg_llm_add_model(false, ''openai'', ''x'', api_key => ''${keys[2]}'', config => ''{}'')'`)).rejects.toMatchObject(refusal("a function's body"));
    await expect(reader.query(`CREATE PROCEDURE pg_temp.use_key() LANGUAGE plpgsql AS $$ BEGIN EXECUTE 'SET ai.openai_api_key = ''${keys[3]}'''; END $$`)).rejects.toMatchObject(refusal("a procedure's body"));
    // A Parse of one, in the extended protocol, likewise.
    await expect(reader.query({ name: 'keyed-body', text: `DO $$ BEGIN PERFORM set_config('ai.team_key', '${keys[4]}', false); END $$` })).rejects.toMatchObject(refusal('a DO block'));
    // What another role reads of the functions: none of them, so none of the keys.
    expect((await direct.query(`SELECT count(*)::int AS n FROM pg_proc WHERE proname IN ('register_x', 'use_key')`)).rows).toEqual([{ n: 0 }]);
    // Code that takes its key from elsewhere (an argument, a setting) is the server's.
    await reader.query(`CREATE FUNCTION pg_temp.register_with(k text) RETURNS boolean LANGUAGE sql AS 'SELECT pg_llm_add_model(false, ''openai'', ''x'', k, ''{}'')'`);
    await reader.query(`DO $$ BEGIN PERFORM count(*) FROM asks; END $$`);
    for (const key of keys) expect(logHolds(key), key).toBe(false);
  });
});

// Review F2: a key reached a call in a DO block or a function's body through a column its statement writes out, or a
// PL/pgSQL variable given it: the DO block failed in the database, which logged it with the key.
describe('code kept as text whose call reads a key through a column or a variable it writes', () => {
  it('is refused before the server, its log or pg_proc get the key', async () => {
    const { direct, reader } = await loggedDatabase('', ['log_min_error_statement = error']);
    const keys = Array.from({ length: 8 }, (_, i) => unique(`sk-through-${i}`));
    const statements = [
      `DO $$ BEGIN PERFORM pg_llm_add_model(false, 'openai', 'x', s.k, '{}') FROM (SELECT '${keys[0]}' AS k) s; END $$`,
      `DO $$ BEGIN PERFORM ai.openai_embed('text-embedding-3-small', 'x', api_key => k) FROM (VALUES ('${keys[1]}')) v(k); END $$`,
      `DO $$ DECLARE k text := '${keys[2]}'; BEGIN PERFORM ai.openai_embed('text-embedding-3-small', 'x', api_key => k); END $$`,
      `CREATE FUNCTION pg_temp.through_column() RETURNS void LANGUAGE sql AS $$ SELECT pg_llm_add_model(false, 'openai', 'x', s.k, '{}') FROM (SELECT '${keys[3]}' AS k) s $$`,
      `CREATE FUNCTION pg_temp.through_variable() RETURNS void LANGUAGE plpgsql AS $$ DECLARE k text; BEGIN SELECT '${keys[4]}' INTO k; PERFORM pg_llm_add_model(false, 'openai', 'x', k, '{}'); END $$`,
      // Review F5: a parameter's DEFAULT, which pg_proc keeps for every role (pg_get_expr(proargdefaults)), and a field.
      `CREATE FUNCTION pg_temp.through_default(k text DEFAULT '${keys[5]}') RETURNS void LANGUAGE plpgsql AS $$ DECLARE j ALIAS FOR $1; BEGIN PERFORM ai.openai_embed('text-embedding-3-small', 'x', api_key => j); END $$`,
      `CREATE FUNCTION pg_temp.through_default_sql(k text DEFAULT '${keys[6]}') RETURNS void LANGUAGE sql AS $$ SELECT ai.openai_embed('text-embedding-3-small', 'x', api_key => k) $$`,
      `DO $$ DECLARE r record; BEGIN SELECT 'x' AS n INTO r; r.n := '${keys[7]}'; PERFORM ai.openai_embed('text-embedding-3-small', 'x', api_key => r.n); END $$`,
    ];
    const refusal = { code: '0A000', message: expect.stringMatching(/^(a DO block|a function's body) cannot /) };
    for (const statement of statements) await expect(reader.query(statement), statement).rejects.toMatchObject(refusal);
    expect((await direct.query(`SELECT count(*)::int AS n FROM pg_proc WHERE proname LIKE 'through_%'`)).rows).toEqual([{ n: 0 }]);
    // A variable given a setting's value, not a constant, is the server's to run.
    await reader.query(`CREATE FUNCTION pg_temp.from_setting() RETURNS void LANGUAGE plpgsql AS $$ DECLARE k text := current_setting('app.key', true); BEGIN PERFORM pg_llm_add_model(false, 'openai', 'x', k, '{}'); END $$`);
    for (const key of keys) expect(logHolds(key), key).toBe(false);
  });
});

describe('a provider that echoes the key minus two characters', () => {
  /** A model whose key belongs to postgres, on the fake provider, which trust_user may use. */
  async function echoedKey() {
    const key = unique('sk-echo');
    const database = await loggedDatabase();
    const config = { model_name: 'gpt-test', base_url: suite.fake.baseUrl, max_retries: 0 };
    await database.admin.query(`SELECT pg_llm_add_model(false, 'openai_compatible', 'llm', $1, $2)`, [key, JSON.stringify(config)]);
    await database.reader.query(`SET pg_llm.redact_sensitive = off; SET pg_llm.trace_enabled = on`);
    return { key, echo: key.slice(0, -2), ...database };
  }

  it('in an error body, gets to neither the client nor the server log', async () => {
    const { key, echo, reader } = await echoedKey();
    suite.fake.script({ kind: 'error', status: 401, message: `Incorrect API key provided: ${echo}.` });
    const error = await reader.query(`SELECT pg_llm_chat('llm', 'x')`).catch((caught: unknown) => caught);
    expect(error).toMatchObject({ code: '28000', message: expect.stringContaining('Incorrect API key provided: ****.') });
    suite.fake.script({ kind: 'error', status: 500, message: `upstream says ${echo}` });
    const failed = await reader.query(`UPDATE asks SET answer = pg_llm_chat('llm', question)`).catch((caught: unknown) => caught);
    expect(failed).toMatchObject({ code: '39001' });
    expect(suite.fake.requests[0]!.authorization).toBe(`Bearer ${key}`);
    expect(holdsFragment(JSON.stringify([error, failed, String(error), String(failed)]), key)).toBe(false);
    expect(logHolds(key)).toBe(false);
  });

  it('in an answer, a JSON answer or SQL the model wrote, gets to neither the client nor the trace rows', async () => {
    const { key, echo, reader } = await echoedKey();
    suite.fake.script(
      { kind: 'answer', content: `your key is ${echo.slice(1)}` },
      { kind: 'answer', content: `${echo}` },
      { kind: 'answer', content: JSON.stringify({ sql: `SELECT '${echo}' AS leaked`, explanation: `uses ${echo}` }) },
    );
    const rows = [];
    for (const call of [`pg_llm_chat('llm', 'a')`, `pg_llm_chat_json('llm', 'b')`, `pg_llm_text2sql_json('llm', 'c')`]) {
      rows.push((await reader.query(`SELECT ${call} AS answer`)).rows[0].answer);
    }
    expect(rows[0]).toBe('your key is ****');
    const trace = await reader.query(`SELECT step, detail::text FROM _pg_llm_catalog.pg_llm_trace_log`);
    expect(trace.rows.map((row) => row.step)).toContain('generated_sql');
    const audit = await reader.query(`SELECT metadata::text FROM _pg_llm_catalog.pg_llm_audit_log`);
    expect(holdsFragment(JSON.stringify([rows, trace.rows, audit.rows]), key)).toBe(false);
    expect(logHolds(key)).toBe(false);
  });

  // Review29: the client's error was masked, but the server raised the text the error was made with.
  it("in an error body, the credentials of the model's base_url get to neither the client nor the server log", async () => {
    const { admin, reader } = await loggedDatabase();
    const credential = unique('gateway-key');
    const config = { model_name: 'gpt-test', base_url: `${suite.fake.baseUrl}?key=${credential}`, max_retries: 0 };
    await admin.query(`SELECT pg_llm_add_model(false, 'openai_compatible', 'gateway', NULL, $1)`, [JSON.stringify(config)]);
    suite.fake.script({ kind: 'error', status: 500, message: `no route for /v1?key=${credential}/chat/completions` });
    const failed = await reader.query(`UPDATE asks SET answer = pg_llm_chat('gateway', question)`).catch((caught: unknown) => caught);
    expect(failed).toMatchObject({ code: '39001', message: expect.stringContaining('no route for /v1?****') });
    expect(logHolds(credential)).toBe(false);
  });

  it('in a streamed answer split across chunks, gets to neither the client nor the server log', async () => {
    const { key, echo, reader } = await echoedKey();
    const text = `the key: ${echo} (keep it safe)`;
    const chunks = Array.from({ length: Math.ceil(text.length / 5) }, (_, i) => text.slice(i * 5, i * 5 + 5));
    suite.fake.script({ kind: 'stream', chunks });
    const { rows } = await reader.query(`SELECT chunk FROM pg_llm_chat_stream('llm', 'x')`);
    const streamed = rows.map((row) => row.chunk).join('');
    expect(streamed).toMatch(/^the key: .*\*\*\*\*.* \(keep it safe\)$/);
    expect(holdsFragment(streamed, key)).toBe(false);
    expect(logHolds(key)).toBe(false);
  });
});
