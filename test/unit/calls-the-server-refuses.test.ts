// A call of the proxy's written under a name it does not serve, or with an argument it does not declare, reaches the
// server as written, secrets and all: the proxy refuses it first (review R1).

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
    [`SELECT x.mydb.ai.openai_embed('m', 'x', api_key => 'sk-written-0123456789abcdef')`, 'x.mydb.ai.openai_embed(…) is not a call pg_llm proxy serves'],
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

describe('calls of the proxy with arguments none of its overloads declares', () => {
  it.each([
    [`SELECT ai.openai_embed('m', 'x', api_kye => 'sk-written-0123456789abcdef')`, 'function ai.openai_embed has no argument named api_kye'],
    [`SELECT pg_llm_chat('m', 'hi', 'x', 'y', 'z', 'w', 'v', 'u', 't', $1)`, 'function public.pg_llm_chat has no more than'],
  ])('refuse them as the server would, before it gets the statement: %s', (sql, message) => {
    expect(() => analyzeNow(sql)).toThrowError(expect.objectContaining({ sqlstate: '42883', message: expect.stringContaining(message), hint: expect.stringContaining('Its arguments: ') }));
  });

  it.each([`SELECT pg_llm_chat('m', 'x', 'extra')`, `SELECT ai.openai_embed('m', 'x', dimension => 3)`])('leave those that could hold no key to the server, which says why: %s', (sql) => {
    expect(() => analyzeNow(sql)).not.toThrow();
  });
});

describe("statements with a '…' string that standard_conforming_strings off ends elsewhere", () => {
  it.each([
    `SELECT 'a\\', ' AS q, ai.openai_embed($$m$$, $$x$$, api_key => $$sk-written-0123456789abcdef$$) AS e --'`,
    `SELECT 'a\\''b' AS q, ai.openai_embed('m', 'x')`,
    `SELECT N'a\\\\\\'' AS q, ai.openai_embed('m', 'x') --'`,
  ])('are refused, whatever the session has: %s', (sql) => {
    expect(() => analyzeNow(sql)).toThrowError(expect.objectContaining({ sqlstate: '0A000', message: expect.stringContaining('standard_conforming_strings off') }));
  });

  it.each([
    `SELECT ai.openai_embed('m', '{"text": "a\\nb \\"quoted\\""}')`,
    `SELECT ai.openai_embed('m', 'C:\\\\dir\\\\'' AS a')`,
    `SELECT ai.openai_embed('m', E'it\\'s')`,
    `SELECT ai.openai_embed('m', $$a\\'$$)`,
  ])('pass when both readings end every string in the same place: %s', (sql) => {
    expect(() => analyzeNow(sql)).not.toThrow();
  });
});
