// A call of the proxy's written under a name it does not serve reaches the server as written, secrets and all: one
// that gives a secret argument is refused before the server gets it (review R1).

import { beforeAll, describe, expect, it } from 'vitest';
import { analyzeNow } from '../../src/intercept/analyze.js';
import { loadParser } from '../../src/sql/parse.js';

beforeAll(() => loadParser());

describe('calls written under names the proxy does not serve', () => {
  it.each([
    [`SELECT openai_embed('m', 'x', 'sk-written-0123456789abcdef')`, 'openai_embed(…) is not a call pg_llm proxy serves, and it gives the api_key argument of ai.openai_embed'],
    [`SELECT openai_chat_complete('m', '[]', api_key => $1)`, 'the api_key argument of ai.openai_chat_complete'],
    [`SELECT openai_embed('m', 'x', extra_headers => '{"x-key": "k"}')`, 'the extra_headers argument of ai.openai_embed'],
    [`SELECT mydb.ai.openai_embed('m', 'x', 'sk-written-0123456789abcdef')`, 'mydb.ai.openai_embed(…) is not a call pg_llm proxy serves'],
    [`SELECT mydb.public.pg_llm_add_model(false, 'openai', 'm', 'sk-written-0123456789abcdef', '{}')`, 'the api_key argument of public.pg_llm_add_model'],
  ])('refuse one that gives a secret: %s', (sql, message) => {
    expect(() => analyzeNow(sql)).toThrowError(expect.objectContaining({ sqlstate: '0A000', message: expect.stringContaining(message), hint: expect.stringContaining('Write ') }));
  });

  it.each([
    `SELECT openai_embed('m', 'x')`,
    `SELECT openai_embed('m', 'x', NULL)`,
    `SELECT openai_embed('m', 'x', api_key => '')`,
    `SELECT mydb.ai.openai_embed('m', 'x', api_key_name => 'my_key')`,
    `SELECT my_schema.openai_embed('m', 'x', 'not a call of ours')`,
  ])('pass one that gives none to the server, which answers it: %s', (sql) => {
    expect(() => analyzeNow(sql)).not.toThrow();
  });
});
