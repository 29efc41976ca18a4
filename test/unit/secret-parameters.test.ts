import { beforeAll, describe, expect, it } from 'vitest';
import { analyzeNow } from '../../src/intercept/analyze.js';
import { heldBind } from '../../src/intercept/held-parameters.js';
import { SessionLiteralSecrets } from '../../src/intercept/literal-secrets.js';
import { functionsCalled } from '../../functions/registry.js';
import { readBind, readSectionParameter } from '../../proxy/frontend-read.js';
import { loadParser } from '../../src/sql/parse.js';

beforeAll(() => loadParser());

/** The numbers of the parameters the proxy holds at Bind, and the functions each is for. */
function heldNumbers(sql: string): string[] {
  return analyzeNow(sql).secretParameters.map(({ number, writtenFor, json }) => `$${number} ${writtenFor.join(' ')}${json ? ' json' : ''}`);
}

/** A Bind of the unnamed statement with these parameters, each with its format code. */
function bindOf(parameters: Array<[number, Buffer | null]>): Buffer {
  const int16 = (value: number) => Buffer.of(value >> 8, value & 255);
  const int32 = (value: number) => {
    const bytes = Buffer.alloc(4);
    bytes.writeInt32BE(value);
    return bytes;
  };
  const body = Buffer.concat([
    Buffer.from('\0\0'),
    int16(parameters.length),
    ...parameters.map(([format]) => int16(format)),
    int16(parameters.length),
    ...parameters.flatMap(([, value]) => (value === null ? [int32(-1)] : [int32(value.length), value])),
    int16(0),
  ]);
  return Buffer.concat([Buffer.from('B'), int32(4 + body.length), body]);
}

describe('secret parameters', () => {
  it('are the parameters bound only for secret arguments, under casts, each for its function', () => {
    expect(heldNumbers(`SELECT ai.openai_embed('m', $1, api_key => $2::text, extra_headers => $3, client_config => $4)`)).toEqual([
      '$2 ai.openai_embed',
      '$3 ai.openai_embed json',
      '$4 ai.openai_embed json',
    ]);
    expect(heldNumbers(`SELECT generate_query($1, api_key => $2), generate_query($3, api_key => $2)`)).toEqual(['$2 public.generate_query']);
    // One key for two functions (review K1: it went to the server in the clear, where another role's view read it).
    expect(heldNumbers(`SELECT ai.openai_chat_complete('m', '[]', api_key => $1), ai.openai_embed('m', 'x', api_key => $1)`)).toEqual([
      '$1 ai.openai_chat_complete ai.openai_embed',
    ]);
    expect(heldNumbers(`SELECT ai.openai_embed('m', 'x', client_config => ai.openai_client_config(default_headers => $1))`)).toEqual(['$1 ai.openai_client_config json']);
    // A config computed from one is left to the server, as the docs say (security.md).
    expect(heldNumbers(`SELECT pg_llm_add_model(false, 'openai', 'm', $1, jsonb_build_object('api_key', $1::text)::text)`)).toEqual([]);
  });

  it.each([
    [`SELECT $2::text AS shown, ai.openai_embed('m', $1, api_key => $2)`, 'parameter $2 is bound for the api_key argument of ai.openai_embed and read elsewhere in the statement too'],
    [`SELECT ai.openai_embed('m', 'x', api_key => $1), ai.openai_embed('m', 'x', extra_headers => $1)`, 'parameter $1 is bound for secrets of different kinds'],
    [`SELECT ai.openai_embed('m', 'x', api_key => $1 || '')`, 'the api_key argument of ai.openai_embed is computed from parameters'],
    [`SELECT generate_query('q', api_key => coalesce($1, pg_catalog.current_setting('app.key', true)))`, 'the api_key argument of public.generate_query is computed from parameters'],
    [`SELECT ai.openai_embed('m', 'x', extra_headers => jsonb_build_object('x-api', $1::text))`, 'the extra_headers argument of ai.openai_embed is computed from parameters'],
    // Review R1: through a column the statement defines, the parameter went to the server (and its log) in the clear.
    [`SELECT ai.openai_embed('m', 'x', api_key => s.k) FROM (SELECT $1::text AS k) s`, 'the api_key argument of ai.openai_embed reads a bound parameter through a column'],
    [`WITH s AS (SELECT $1::text AS k) SELECT ai.openai_embed('m', 'x', api_key => k) FROM s`, 'the api_key argument of ai.openai_embed reads a bound parameter through a column'],
    [`SELECT ai.openai_embed('m', 'x', api_key => v.k) FROM (VALUES ($1::text)) v(k)`, 'the api_key argument of ai.openai_embed reads a bound parameter through a column'],
    [`SELECT ai.openai_embed('m', 'x', api_key => k) FROM unnest(ARRAY[$1::text]) k`, 'the api_key argument of ai.openai_embed reads a bound parameter through a column'],
    [`SELECT ai.openai_embed('m', 'x', api_key => string_agg(k, '')) FROM (VALUES ($1::text)) v(k)`, 'the api_key argument of ai.openai_embed reads a bound parameter through a column'],
    [`WITH h AS (SELECT $1::jsonb AS h) SELECT ai.openai_embed('m', 'x', extra_headers => h.h) FROM h`, 'the extra_headers argument of ai.openai_embed reads a bound parameter through a column'],
    [`SELECT ai.openai_embed('m', 'x', client_config => c.cfg) FROM (SELECT $1::jsonb AS cfg) c`, 'the client_config argument of ai.openai_embed reads a bound parameter through a column'],
    [`INSERT INTO keys (provider, k) VALUES ('p', $1) RETURNING pg_llm_add_model(false, 'openai', 'm', k, '{}')`, 'the api_key argument of public.pg_llm_add_model reads a bound parameter through a column'],
    [`SELECT pg_llm_add_model(false, 'openai', 'm', s.k, '{}') FROM (SELECT $1::text AS k) s`, 'the api_key argument of public.pg_llm_add_model reads a bound parameter through a column'],
  ])('refuse a parameter the proxy could not hold: %s', (sql, message) => {
    expect(() => analyzeNow(sql)).toThrowError(expect.objectContaining({ sqlstate: '0A000', message: expect.stringContaining(message) }));
  });

  it('are held in a Bind as text, as jsonb text and as binary jsonb; a config without credentials, NULL and a reference are not', () => {
    const secrets = new SessionLiteralSecrets();
    const parameters = analyzeNow(`SELECT ai.openai_embed($1, 'x', api_key => $2, extra_headers => $3, client_config => $4, extra_body => $5)`).secretParameters;
    const reference = secrets.holdSecret('sk-earlier', ['ai.openai_embed']);
    const headers = Buffer.from('{"x-key": "k"}');
    const frame = bindOf([[0, Buffer.from('m')], [0, Buffer.from('sk-text')], [1, Buffer.concat([Buffer.of(1), headers])], [0, Buffer.from('{"base_url": "http://h/v1"}')], [0, null]]);
    const held = heldBind(frame, readBind(frame).restOffset, parameters, secrets);
    const value = (index: number) => readSectionParameter(held.subarray(readBind(held).restOffset), index)!.value?.toString('latin1');
    expect(value(0)).toBe('m');
    expect(value(1)).toMatch(/^held by pg_llm proxy [0-9a-f]{32}$/);
    expect(value(2)).toMatch(/^\x01"held by pg_llm proxy [0-9a-f]{32}"$/);
    expect(value(3)).toBe('{"base_url": "http://h/v1"}');
    expect(value(4)).toBeUndefined();
    const declaration = functionsCalled(['ai', 'openai_embed'])[0]!;
    // The server hands the call the references as it got them: the jsonb one as a JSON string.
    const given: Record<string, unknown> = { api_key: value(1), extra_headers: JSON.parse(value(2)!.slice(1)) };
    const { values } = secrets.resolve(declaration, declaration.arguments.map((argument) => given[argument.name] ?? null));
    expect(values.filter((resolved) => resolved !== null)).toEqual(['sk-text', { 'x-key': 'k' }]);
    const again = bindOf([[0, Buffer.from(reference)]]);
    expect(heldBind(again, readBind(again).restOffset, [{ number: 1, kind: 'key', json: false, writtenFor: ['ai.openai_embed'] }], secrets)).toBe(again);
  });

  it('leaves a Bind with a negative count of formats to the server, which refuses it', () => {
    const body = Buffer.concat([Buffer.from('\0\0'), Buffer.from([0xff, 0xfb, 0, 1, 0, 0, 0, 2]), Buffer.from('sk'), Buffer.alloc(2)]);
    const frame = Buffer.concat([Buffer.from('B'), Buffer.alloc(4), body]);
    frame.writeInt32BE(4 + body.length, 1);
    const secrets = new SessionLiteralSecrets();
    expect(heldBind(frame, readBind(frame).restOffset, [{ number: 1, kind: 'key', json: false, writtenFor: ['ai.openai_embed'] }], secrets)).toBe(frame);
  });
});
