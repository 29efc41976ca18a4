// The lexical scan that decides which statements are worth parsing: a name counts only as a token of its own.

import { describe, expect, it } from 'vitest';
import { IdentifierSet } from '../../src/sql/identifiers.js';

const names = new IdentifierSet(['pg_llm', 'pg_llm_chat']);
const named = (sql: string): boolean => names.namedIn(Buffer.from(sql, 'utf8'));

const FOUND = [
    [`SELECT pg_llm_chat('m', 'x')`],
    [`SELECT PG_LLM_Chat ('m', 'x')`],
    [`SELECT public.pg_llm_chat('m', 'x')`],
    [`CREATE EXTENSION pg_llm`],
    [`SELECT "pg_llm_chat"('m', 'x')`],
    [`SELECT U&"pg_llm_chat"('m', 'x')`],
    [`SELECT U&"\\0070g_llm_chat"('m', 'x')`],
    [`SELECT U&"!0070g_llm_chat" UESCAPE '!' ('m', 'x')`],
    [`SELECT 'a''b', pg_llm_chat('m', 'x')`],
    [`SELECT E'it\\'s', pg_llm_chat('m', 'x')`],
    [`SELECT $$ $1 $$, pg_llm_chat('m', 'x')`],
    [`SELECT $1, pg_llm_chat('m', $2)`],
    [`SELECT /* a /* nested */ comment */ pg_llm_chat('m', 'x')`],
    [`SELECT 1 -- comment\npg_llm_chat`],
    [`SELECT 1 -- comment\rpg_llm_chat`],
    [`SELECT $a$ $b$ 'x' $a$, pg_llm_chat('m', 'x')`],
    [`SELECT 'x' || pg_llm_chat('m', '\\') --'`],
    [`SELECT '\\' , pg_llm_chat('m', 'x') -- '`],
    [`SELECT 'x', $$ '$$, pg_llm_chat('m', 'x') -- '`],
    // Only with standard_conforming_strings off is the call outside the string.
    [`SELECT 'a\\'', pg_llm_chat('m', 'x') -- '`],
    // A string continued across a -- comment, as PostgreSQL 15 continues it (review P); 18 ends it at the comment.
    [`SELECT E'x' -- c\n'\\'' || '\\' AS a, pg_llm_chat($$m$$, $$hi$$) AS b`],
    [`SELECT E'x'\n-- c\n  -- d\r\n'\\'' || '\\' AS a, pg_llm_chat($$m$$, $$hi$$) AS b`],
    [`SELECT E'x' -- c\n'', 1`],
];

const NOT_FOUND = [
    [`SELECT 'pg_llm_chat(''m'', ''x'')'`],
    [`SELECT E'\\' pg_llm_chat(''m'', ''x'')'`],
    [`SELECT e'\\\\', 'pg_llm'`],
    [`SELECT U&'pg_llm_chat'`],
    [`SELECT N'pg_llm', B'101', X'ff'`],
    [`SELECT $$ pg_llm_chat('m', 'x') $$`],
    [`SELECT $body$ $$ pg_llm_chat() $$ $body$`],
    [`SELECT $fn$ 'pg_llm' $fn$`],
    [`SELECT 1 -- pg_llm_chat('m', 'x')`],
    [`SELECT /* a /* nested */ pg_llm_chat */ 1`],
    [`SELECT "PG_LLM_CHAT"('m', 'x')`],
    [`SELECT "pg_llm_chat ""quoted"""`],
    [`SELECT pg_llm_chat_json('m', 'x'), my_pg_llm, pg_llm$x`],
    [`INSERT INTO t VALUES ('pg_llm_chat(', 'pg_llm')`],
    // A string continued with no comment between, and a comment after a string that nothing continues.
    [`SELECT E'x'\n'\\' pg_llm_chat(1) '`],
    [`SELECT E'x' -- pg_llm_chat\n, 1 -- '`],
    // U&'…' takes a backslash as it is in either reading: the reading with escapes, begun inside one, must know it.
    [`SELECT U&'x\\' , 'pg_llm_chat'`],
    // Read with backslash escapes, a plain string is continued across a -- comment as a new one is read: no doubt.
    [`SELECT 'x' -- c\n'\\'''`],
];

/** The text read in pieces of `size` bytes, the first `offset` long, as a statement streams through the proxy. */
function namedInPieces(sql: string, size: number, offset: number): boolean {
  const bytes = Buffer.from(sql, 'utf8');
  const scanner = names.scanner();
  for (let start = 0, end = offset; start < bytes.length; start = end, end += size) scanner.push(bytes.subarray(start, end));
  return scanner.end();
}

describe('IdentifierSet.namedIn', () => {
  it.each(FOUND)('finds the name in %s', (sql) => {
    expect(named(sql)).toBe(true);
  });

  it.each(NOT_FOUND)('does not find the name in %s', (sql) => {
    expect(named(sql)).toBe(false);
  });

  it('looks only between the bounds it is given', () => {
    const sql = Buffer.from(`pg_llm_chat\0SELECT 1\0`);
    expect(names.namedIn(sql, 12, sql.length - 1)).toBe(false);
    expect(names.namedIn(sql, 0, 11)).toBe(true);
  });
});

describe('IdentifierSet.scanner', () => {
  it.each([...FOUND.map(([sql]) => [sql, true] as const), ...NOT_FOUND.map(([sql]) => [sql, false] as const)])(
    'judges %s read in pieces, wherever they are cut, as read whole',
    (sql, found) => {
      for (const size of [1, 2, 3, 7]) {
        for (let offset = 1; offset <= size; offset++) expect([size, offset, namedInPieces(sql, size, offset)]).toEqual([size, offset, found]);
      }
    },
  );

  it('counts a dollar quote whose tag is too long to carry from piece to piece as a name, having lost its way', () => {
    const tag = `$${'t'.repeat(2000)}$`;
    const sql = `SELECT ${tag} pg_llm_chat ${tag}`;
    expect(named(sql)).toBe(false);
    expect(namedInPieces(sql, 100, 100)).toBe(true);
  });
});

describe('IdentifierSet.scanner against namedIn', () => {
  // The reading with backslash escapes begins at the first piece with a backslash, from the other reading's state:
  // texts of the tokens that change a reading's state, cut anywhere, must be judged as when read whole.
  const TOKENS = [`'`, `''`, `E'`, `U&'`, `U&"`, `"`, `\\`, `\\'`, `--`, `\n`, `/*`, `*/`, `$$`, `$a$`, ` `, `x`, `e`, `pg_llm_chat`, `"pg_llm_chat"`, `,`];

  it('judges thousands of random texts read in random pieces as it does them read whole', () => {
    let seed = 12345;
    const random = (below: number): number => {
      seed = (Math.imul(seed, 1103515245) + 12345) & 0x7fffffff;
      return seed % below;
    };
    for (let round = 0; round < 3000; round++) {
      const sql = Array.from({ length: 4 + random(24) }, () => TOKENS[random(TOKENS.length)]).join('');
      const size = 1 + random(12);
      expect([sql, size, namedInPieces(sql, size, 1 + random(size))]).toEqual([sql, size, named(sql)]);
    }
  });
});

describe('an IdentifierSet of settings’ prefixes', () => {
  const prefixes = new IdentifierSet([], ['ai']);
  it('finds the prefix quoted in any case, and as the start of a setting’s whole name in one quoted identifier', () => {
    for (const sql of [`SET "AI".key = 'v'`, `SET "ai.openai_api_key" = 'v'`, `SET SESSION "AI.OPENAI_API_KEY" TO 'v'`, `SET "ai" . key TO 'v'`]) {
      expect(prefixes.namedIn(Buffer.from(sql)), sql).toBe(true);
    }
    for (const sql of [`SET "aix.key" = 'v'`, `SELECT 'ai.openai_api_key'`, `SET "a.i" = 'v'`]) expect(prefixes.namedIn(Buffer.from(sql)), sql).toBe(false);
  });
});

describe('a text of many short tokens (review O)', () => {
  // Each token once searched the rest of the text (an E'' string for a backslash) or copied its bytes: a megabyte
  // of them held the event loop for seconds. The scan reads on from each token's end, remembering its searches.
  const many = (token: string, count = 20_000): string => token.repeat(count);
  it('reads past many strings, quoted identifiers and dollar quotes to a name after them, and into one', () => {
    for (const token of [`E'',`, `'',`, `"",`, `"a",`, `U&"a",`, `$a$$a$,`, `$a$ $ $a$,`, `E'\\\\',`, `x"pg_llm_cha",`]) {
      expect(named(`SELECT ${many(token)} pg_llm_chat`), token).toBe(true);
      expect(named(`SELECT ${many(token)} 'pg_llm_chat'`), token).toBe(false);
      expect(namedInPieces(`SELECT ${many(token, 2_000)} pg_llm_chat`, 7, 61), token).toBe(true);
    }
  });

  it('finds the end of a string, an identifier or a dollar quote far past where the last search ended', () => {
    const far = 'x'.repeat(100);
    expect(named(`SELECT E'${far}\\'${far}', pg_llm_chat`)).toBe(true);
    expect(named(`SELECT E'${far}\\', pg_llm_chat`)).toBe(false);
    expect(named(`SELECT E'',E'${far}\\'', pg_llm_chat`)).toBe(true);
    expect(named(`SELECT "${far}""${far}", pg_llm_chat`)).toBe(true);
    expect(named(`SELECT $tag$ ${far} $ta $tag ${far} $tag$ pg_llm_chat`)).toBe(true);
    expect(named(`SELECT $tag$ ${far} $ta $tag ${far} $tag pg_llm_chat`)).toBe(false);
    expect(named(`SELECT $a$ $a $a$ pg_llm_chat, $b$ ${far} $b$, pg_llm`)).toBe(true);
  });

  it('tells a quoted name by its written length and text, whatever came before', () => {
    expect(named(`SELECT "pg_llm_chaX", "pg_llm_cha""t", "pg_llm_chat"`)).toBe(true);
    expect(named(`SELECT "pg_llm_chaX", "pg_llm_cha""t", "PG_LLM_CHAT"`)).toBe(false);
  });
});

describe('IdentifierSet.and', () => {
  it('looks for both sets’ names as each set does, in one scan', () => {
    const both = new IdentifierSet(['pg_llm_chat']).and(new IdentifierSet([], ['ai']));
    for (const sql of [`SELECT pg_llm_chat()`, `SET "AI.openai_api_key" = 'v'`, `SET ai.x = 1`, `SELECT "pg_llm_chat"()`]) expect(both.namedIn(Buffer.from(sql)), sql).toBe(true);
    for (const sql of [`SELECT "PG_LLM_CHAT"()`, `SET "aix.key" = 'v'`, `SELECT 'ai'`]) expect(both.namedIn(Buffer.from(sql)), sql).toBe(false);
  });
});
