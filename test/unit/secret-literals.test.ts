import { beforeAll, describe, expect, it } from 'vitest';
import { findFunction, functionsCalled } from '../../functions/registry.js';
import { analyzeNow } from '../../src/intercept/analyze.js';
import { SessionLiteralSecrets } from '../../src/intercept/literal-secrets.js';
import { loadParser } from '../../src/sql/parse.js';

beforeAll(() => loadParser());

const REFERENCE = /'held by pg_llm proxy [0-9a-f]{32}'/g;

/** The values the proxy holds back from the statement. */
function secretsOf(sql: string): string[] {
  return analyzeNow(sql).secrets.map(({ value }) => value);
}

describe('secret literals', () => {
  it('are the string constants given for secret arguments: positional or named, under casts, anywhere in the statement', () => {
    expect(secretsOf(`SELECT pg_llm_add_model(false, 'openai', 'm', E'sk-\\'one', $$ {"token": "t"} $$)`)).toEqual([`sk-'one`, ' {"token": "t"} ']);
    expect(secretsOf(`SELECT pg_llm_add_model(false, 'mock', 'm', NULL, '{"model_name": "x"}')`)).toEqual([]);
    expect(secretsOf(`SELECT pg_llm_add_model(false, 'mock', 'm', NULL, '{"api_key": sk-unquoted}')`)).toEqual(['{"api_key": sk-unquoted}']);
    expect(secretsOf(`WITH a AS (SELECT generate_query(q, API_KEY => CAST('sk-two' AS text)) FROM t) UPDATE t SET a = explain_query('SELECT 1', 'sk-three'::text::text) FROM a`)).toEqual(['sk-two', 'sk-three']);
    expect(secretsOf(`SELECT ai.openai_embed('m', ARRAY['a', 'b'], 'sk-four'), ai.openai_embed('m', 'x', api_key_name => 'TEAM_KEY')`)).toEqual(['sk-four']);
  });

  it('are found under COLLATE too, alone or mixed with casts and parentheses', () => {
    expect(secretsOf(`SELECT generate_query('q', api_key => 'sk-collated' COLLATE "C")`)).toEqual(['sk-collated']);
    expect(secretsOf(`SELECT generate_query('q', (('sk-mixed'::varchar COLLATE "C")::text COLLATE "POSIX"))`)).toEqual(['sk-mixed']);
  });

  it("are a pgai call's headers and query parameters, and its client_config and extra_body when they hold credentials", () => {
    const headers = '{"Authorization": "Bearer sk-header"}';
    expect(secretsOf(`SELECT ai.openai_embed('m', 'x', extra_headers => '${headers}'::jsonb, extra_query => '{"tag": "t"}', extra_body => '{"dimensions": 4}')`)).toEqual([headers, '{"tag": "t"}']);
    const config = '{"base_url": "http://gw/v1", "default_headers": {"x-api-key": "sk-nested"}}';
    expect(secretsOf(`SELECT ai.openai_chat_complete('m', '[]', client_config => '${config}'), ai.openai_embed('m', 'x', client_config => '{"organization": "o"}')`)).toEqual([config]);
    expect(secretsOf(`SELECT ai.openai_client_config(default_headers => '{"api-key": "sk-azure"}', default_query => '{"key": "k"}')`)).toEqual(['{"api-key": "sk-azure"}', '{"key": "k"}']);
  });

  it("are a server's URL that carries credentials, and only such a URL", () => {
    const url = 'http://svc:pa55word-long@gw.example/v1';
    expect(secretsOf(`SELECT ai.anthropic_generate('m', '[]', base_url => '${url}'), ai.ollama_list_models(host => 'http://gw.example:11434')`)).toEqual([url]);
    expect(secretsOf(`SELECT ai.ollama_list_models('http://gw.example:11434/?key=k')`)).toEqual(['http://gw.example:11434/?key=k']);
  });

  it('leave out values computed in SQL without string constants, calls the proxy does not run, and statements it refuses', () => {
    const computed = [`$1`, `NULL`, `''`, `k`, `coalesce(k, '')`, `(SELECT k FROM keys)`, `current_setting('app.key')`, `coalesce(k, pg_catalog.current_setting('app.key', true))`];
    for (const key of computed) expect(secretsOf(`SELECT generate_query('q', api_key => ${key}) FROM t`), key).toEqual([]);
    expect(secretsOf(`SELECT my_function(api_key => 'sk-six')`)).toEqual([]);
    expect(secretsOf(`PREPARE p AS SELECT generate_query('q', 'sk-seven')`)).toEqual([]);
  });

  it('computed from string constants are refused, in the statement and in SQL given to pg_llm_estimate', () => {
    const refused = { sqlstate: '0A000', message: expect.stringMatching(/^the api_key argument of generate_query is computed from string constants/) };
    const forms = [
      `'sk-' || 'five'`,
      `coalesce('sk-five')`,
      `concat('sk', '-five')`,
      `format('%s', 'sk-five')`,
      `replace('sk-fiv', 'v', 've')`,
      `CASE WHEN true THEN 'sk-five' END`,
      `(SELECT 'sk-five')`,
      `(SELECT k FROM keys WHERE k LIKE 'sk-five%')`,
      `(ARRAY['sk-five'])[1]`,
      `coalesce($1, 'sk-five')::text COLLATE "C"`,
      `X'736b'::text`,
      `jsonb_build_object('key', 'sk-five')::text`,
      `current_setting('app.key', 'sk-five'::bool)`,
    ];
    for (const key of forms) expect(() => analyzeNow(`SELECT generate_query('q', api_key => ${key})`), key).toThrowError(expect.objectContaining(refused));
    expect(() => analyzeNow(`SELECT * FROM pg_llm_estimate('SELECT generate_query(''q'', coalesce(''sk-five''))')`)).toThrowError(expect.objectContaining(refused));
    expect(() => analyzeNow(`SELECT pg_llm_add_model(false, 'openai', 'm', 'sk-' || 'six', NULL)`)).toThrowError(expect.objectContaining({ sqlstate: '0A000' }));
    expect(() => analyzeNow(`SELECT ai.anthropic_generate('m', '[]', base_url => 'http://svc:' || 'pw@gw/v1')`)).toThrowError(expect.objectContaining({ sqlstate: '0A000' }));
  });

  it("that are headers built with jsonb_build_object may name them, but not write their values out", () => {
    expect(secretsOf(`SELECT ai.openai_embed('m', 'x', extra_headers => jsonb_build_object('Authorization', k, 'x-team', jsonb_build_object('id', k))) FROM t`)).toEqual([]);
    for (const headers of [`jsonb_build_object('Authorization', 'Bearer sk-seven')`, `jsonb_build_object('x', jsonb_build_object('id', 'sk-seven'))`, `jsonb_build_object('Auth' || 'orization', $1)`]) {
      expect(() => analyzeNow(`SELECT ai.openai_embed('m', 'x', extra_headers => ${headers})`), headers).toThrowError(expect.objectContaining({ sqlstate: '0A000' }));
    }
  });

  it('that are configs built with jsonb_build_object may write out names and values that are not credentials', () => {
    const addModel = (config: string) => `SELECT pg_llm_add_model(false, 'openai_compatible', 'm', NULL, ${config})`;
    const allowed = [
      `jsonb_build_object('model_name', 'gpt-4o', 'base_url', 'http://gw.example/v1', 'max_retries', 0, 'api_key', $1)::text`,
      `json_build_object('model_name', 'gpt-' || '4o', 'mock_response', repeat('x', 10), 'default_headers', jsonb_build_object('x-api-key', current_setting('app.key')))::text`,
      `pg_catalog.jsonb_build_object('organization', 'o', 'nested', '{"timeout": 5}'::jsonb, 'api_key', NULL)::text`,
      `(SELECT config FROM configs)`,
    ];
    for (const config of allowed) expect(secretsOf(addModel(config)), config).toEqual([]);
    const refused = [
      `jsonb_build_object('model_name', 'gpt-4o', 'api_key', 'sk-eight')::text`,
      `jsonb_build_object('api_token', coalesce($1, 'sk-eight'))::text`,
      `jsonb_build_object('base_url', 'http://svc:pw@gw.example/v1')::text`,
      `jsonb_build_object('base_url', 'http://svc:' || $1 || '@gw.example/v1')::text`,
      `jsonb_build_object('default_headers', jsonb_build_object('x-gateway', 'sk-eight'))::text`,
      `jsonb_build_object('nested', '{"api_key": "sk-eight"}'::jsonb)::text`,
      `jsonb_build_object(k, 'sk-eight')::text`,
      `jsonb_build_object('nested', jsonb_object(ARRAY['api_key', $1]))::text`,
      `jsonb_build_object('nested', ('{"token": "' || $1 || '"}')::jsonb)::text`,
      `jsonb_build_object('nested', coalesce($1, '{"api_key": "sk-eight"}'))::text`,
      `jsonb_build_object(VARIADIC ARRAY['api_key', 'sk-eight'])::text`,
      `jsonb_object(ARRAY['api_key', 'sk-eight'])::text`,
      `'{"api_key": "' || 'sk-eight' || '"}'`,
      `'{"model_name": "x"}'::jsonb || jsonb_build_object('api_key', $1)`,
    ];
    for (const config of refused) {
      expect(() => analyzeNow(addModel(config)), config).toThrowError(expect.objectContaining({ sqlstate: '0A000', message: expect.stringContaining('the config argument of pg_llm_add_model') }));
    }
    expect(() => analyzeNow(`SELECT ai.openai_embed('m', 'x', client_config => jsonb_build_object('api_key', 'sk-eight'))`)).toThrowError(expect.objectContaining({ sqlstate: '0A000' }));
  });

  it('written as U& constants are refused: the parse tree does not decode them', () => {
    expect(() => analyzeNow(`SELECT generate_query('q', U&'sk-\\0065ight')`)).toThrowError(expect.objectContaining({ sqlstate: '0A000' }));
  });

  it('are replaced by references that only their own session resolves, in calls of the function written, one per value and function', () => {
    const secrets = new SessionLiteralSecrets();
    const sql = `SELECT 'é', generate_query('held by pg_llm proxy 00', 'sk-nine'), generate_query('y', 'sk-nine'), explain_query('x', api_key => 'sk-nine')`;
    const held = secrets.hold(sql, analyzeNow(sql).secrets);
    const references = [...held.matchAll(REFERENCE)].map(([reference]) => reference.slice(1, -1));
    expect(held.replace(REFERENCE, 'R')).toBe(`SELECT 'é', generate_query('held by pg_llm proxy 00', R), generate_query('y', R), explain_query('x', api_key => R)`);
    expect(references[0]).toBe(references[1]);
    expect(references[2]).not.toBe(references[0]);
    const generateQuery = findFunction('generate_query')!;
    expect(secrets.resolve(generateQuery, [references[0], references[0], 'auto']).values).toEqual([references[0], 'sk-nine', 'auto']);
    // Written for explain_query, it is no key of generate_query's: another role's view may have copied it there.
    expect(() => secrets.resolve(generateQuery, ['q', references[2], 'auto'])).toThrowError(expect.objectContaining({ sqlstate: '42501' }));
    expect(() => new SessionLiteralSecrets().resolve(generateQuery, ['q', references[0], 'auto'])).toThrowError(expect.objectContaining({ sqlstate: '22023' }));
  });

  it('of a jsonb argument are replaced by a JSON string, and resolved to the JSON value written', () => {
    const secrets = new SessionLiteralSecrets();
    const sql = `SELECT ai.openai_embed('m', 'x', extra_headers => '{"x-key": "sk-ten"}'::jsonb, client_config => '{"api_key": oops}')`;
    const held = secrets.hold(sql, analyzeNow(sql).secrets);
    const references = [...held.matchAll(/'"(held by pg_llm proxy [0-9a-f]{32})"'/g)].map(([, reference]) => reference!);
    expect(held.replace(/'"held by pg_llm proxy [0-9a-f]{32}"'/g, 'R')).toBe(`SELECT ai.openai_embed('m', 'x', extra_headers => R::jsonb, client_config => R)`);
    const embed = functionsCalled(['ai', 'openai_embed'])[0]!;
    const values = embed.arguments.map((argument) => (argument.name === 'extra_headers' ? references[0] : null));
    expect(secrets.resolve(embed, values).values[embed.arguments.findIndex((argument) => argument.name === 'extra_headers')]).toEqual({ 'x-key': 'sk-ten' });
    const broken = embed.arguments.map((argument) => (argument.name === 'client_config' ? references[1] : null));
    expect(() => secrets.resolve(embed, broken)).toThrowError(expect.objectContaining({ sqlstate: '22P02', message: expect.not.stringContaining('oops') }));
  });
});

describe("SQL given for an argument declared SQL (pg_llm_estimate's)", () => {
  /** The query string held, its references as R. */
  function heldForm(secrets: SessionLiteralSecrets, sql: string): string {
    return secrets.hold(sql, analyzeNow(sql).secrets).replace(REFERENCE, 'R');
  }

  it("has its calls' secrets held, in any quoting, in a dollar-quoted constant written anew that the parser reads back", () => {
    const secrets = new SessionLiteralSecrets();
    const forms: Array<[string, string]> = [
      [`SELECT * FROM pg_llm_estimate('SELECT generate_query(''q'', ''sk-one'')')`, `SELECT * FROM pg_llm_estimate($pg_llm$SELECT generate_query('q', R)$pg_llm$)`],
      [`SELECT * FROM pg_llm_estimate(E'SELECT generate_query(\\'q\\', api_key => \\'sk-one\\')\\n')`, `SELECT * FROM pg_llm_estimate($pg_llm$SELECT generate_query('q', api_key => R)\n$pg_llm$)`],
      [`SELECT * FROM pg_llm_estimate(sql => $x$SELECT generate_query('q', 'sk-one'::text)$x$::text)`, `SELECT * FROM pg_llm_estimate(sql => $pg_llm$SELECT generate_query('q', R::text)$pg_llm$::text)`],
      [`SELECT * FROM pg_llm_estimate($x$SELECT generate_query($pg_llm$q$pg_llm$, 'sk-one')$x$)`, `SELECT * FROM pg_llm_estimate($pg_llm_1$SELECT generate_query($pg_llm$q$pg_llm$, R)$pg_llm_1$)`],
      [
        `SELECT * FROM pg_llm_estimate($a$SELECT * FROM pg_llm_estimate($b$SELECT generate_query('q', 'sk-one')$b$)$a$)`,
        `SELECT * FROM pg_llm_estimate($pg_llm_1$SELECT * FROM pg_llm_estimate($pg_llm$SELECT generate_query('q', R)$pg_llm$)$pg_llm_1$)`,
      ],
    ];
    for (const [sql, held] of forms) expect(heldForm(secrets, sql), sql).toBe(held);
    const sql = forms[0]![0];
    const heldSql = secrets.hold(sql, analyzeNow(sql).secrets);
    const reference = heldSql.match(REFERENCE)![0];
    expect(analyzeNow(heldSql).secrets).toEqual([expect.objectContaining({ value: `SELECT generate_query('q', ${reference})` })]);
    expect(secrets.hold(heldSql, analyzeNow(heldSql).secrets)).toBe(heldSql);
  });

  // A constant split in pieces is refused (sql-arguments.test.ts): the server would get the SQL unread.
  it('is left as written when its calls write out no secret', () => {
    for (const sql of [
      `SELECT * FROM pg_llm_estimate('SELECT generate_query(''sk-in-a-prompt'')')`,
      `SELECT * FROM pg_llm_estimate('SELECT generate_query(''q'', api_key => $1)')`,
    ]) {
      expect(analyzeNow(sql).secrets, sql).toEqual([]);
    }
  });

  it('that the parser refuses and may hold a secret is answered by the proxy, the position counted in the query string', () => {
    const error = (sql: string) => analyzeNow(sql).syntaxError;
    const at = (sql: string, near: string) => [...sql.slice(0, sql.indexOf(near))].length + 1;
    const forms = [
      `SELECT 'é', * FROM pg_llm_estimate('SELECT ''it''''s'', generate_query(''q'', ''sk-three'' oops)')`,
      `SELECT * FROM pg_llm_estimate(E'\\x53ELECT \\'\\101\\u00e9\\\\\\', generate_query(\\'q\\', \\'sk-three\\' oops)')`,
      `SELECT * FROM pg_llm_estimate('SELECT generate_query(''q'', '\n  '''sk-three'' oops)')`,
      `SELECT * FROM pg_llm_estimate($$SELECT * FROM pg_llm_estimate('SELECT generate_query(''q'', ''sk-three'' oops)')$$)`,
    ];
    for (const sql of forms) {
      expect(error(sql), sql).toEqual({ message: 'the sql argument of pg_llm_estimate is not valid SQL: syntax error at or near "oops"', position: at(sql, 'oops') });
    }
    expect(error(`SELECT * FROM pg_llm_estimate('SELECT generate_query(''q'' oops)')`)).toBeUndefined();
  });

  it('written as a U& constant is refused when it writes out a secret', () => {
    expect(() => analyzeNow(`SELECT * FROM pg_llm_estimate(U&'SELECT generate_query(''q'', ''sk-\\0065ight'')')`)).toThrowError(expect.objectContaining({ sqlstate: '0A000' }));
    expect(analyzeNow(`SELECT * FROM pg_llm_estimate(U&'SELECT generate_query(''q\\0065'')')`).secrets).toEqual([]);
  });
});
