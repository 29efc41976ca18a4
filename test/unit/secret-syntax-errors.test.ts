// Which statements the parser refuses are answered by the proxy, so that the server never logs them.

import { parseSync } from 'libpg-query';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadParser } from '../../src/sql/parse.js';
import { heldSyntaxError } from '../../src/sql/secret-syntax-errors.js';

beforeAll(() => loadParser());

function held(sql: string) {
  try {
    parseSync(sql);
  } catch (error) {
    return heldSyntaxError(sql, error);
  }
  throw new Error(`${sql} parses`);
}

describe('a syntax error the server must not see', () => {
  it('is one in a call with a string constant at a secret argument, by position, by name or in a jsonb', () => {
    expect(held(`SELECT 'é', generate_query('q', api_key => 'plain' oops)`)).toEqual({ message: 'syntax error at or near "oops"', position: 52 });
    expect(held(`SELECT explain_query('SELECT 1', 'plain' || x FROM)`)).toBeDefined();
    expect(held(`SELECT ai.openai_embed('m', 'x', extra_headers => '{}' WHERE)`)).toBeDefined();
    expect(held(`SELECT "generate_query"('q', API_KEY := 'plain'`)).toBeDefined();
  });

  it("is one with such a constant in SQL written out for an argument declared SQL (pg_llm_estimate's)", () => {
    expect(held(`SELECT * FROM pg_llm_estimate('SELECT generate_query(''q'', ''plain'')') WHERE`)).toBeDefined();
    expect(held(`SELECT * FROM pg_llm_estimate(sql => $$SELECT explain_query('SELECT 1', api_key => 'plain')$$) oops oops`)).toBeDefined();
    expect(held(`SELECT * FROM pg_llm_estimate('SELECT generate_query(''q'')') WHERE`)).toBeUndefined();
  });

  it("is one with a key's shape anywhere in a statement calling an LLM function, or a quote left open", () => {
    expect(held(`SELECT generate_query('q') FROM t WHERE k = 'sk-0123456789abc' AND`)).toBeDefined();
    expect(held(`SELECT generate_query('q') FROM t WHERE k = '{"token": "t"}' AND`)).toBeDefined();
    expect(held(`SELECT generate_query('q', 'unterminated`)).toMatchObject({ message: expect.stringContaining('unterminated quoted string') });
  });

  it('is no other: no secret argument written, a secret computed, or no LLM function called', () => {
    expect(held(`SELECT generate_query('q' oops)`)).toBeUndefined();
    expect(held(`SELECT generate_query('q', api_key => $1 oops)`)).toBeUndefined();
    expect(held(`SELECT generate_query('q', (SELECT k FROM keys) oops)`)).toBeUndefined();
    expect(held(`SELECT my_function(api_key => 'sk-0123456789abc' oops)`)).toBeUndefined();
  });
});
