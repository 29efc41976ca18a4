// A big text's code (bytes outside literals and comments) is counted in the parser's thread, not on the event loop
// every session shares: the count scans the whole text, some 10 ms a MiB, and an 8 MiB one held every session for a
// tenth of a second before it was refused. The limit on code holds all the same.

import { describe, expect, it, vi } from 'vitest';
import { analyze } from '../../src/intercept/analyze.js';
import { INLINE_PARSE_BYTES, MAX_PARSE_CODE_BYTES } from '../../src/sql/parse-task.js';

const countedOnEventLoop: number[] = [];

vi.mock('../../src/sql/identifiers.js', async (original) => {
  const identifiers = await original<typeof import('../../src/sql/identifiers.js')>();
  return {
    ...identifiers,
    codeBytes: (sql: Buffer, start?: number, end?: number) => {
      countedOnEventLoop.push((end ?? sql.length) - (start ?? 0));
      return identifiers.codeBytes(sql, start, end);
    },
  };
});

describe("a big statement's code", () => {
  it('is counted in the thread: a big literal is parsed, too much code refused, neither counted on the event loop', async () => {
    const literal = `SELECT pg_llm_chat('llm', '${'data '.repeat(200_000)}')`;
    expect((await analyze(literal)).plans?.map((plan) => plan.kind)).toEqual(['calls']);
    const code = `SELECT pg_llm_chat('llm', 'x') FROM (VALUES ${'(1+1*2-3),'.repeat(MAX_PARSE_CODE_BYTES / 8)}(1)) v(a)`;
    await expect(analyze(code)).rejects.toMatchObject({ sqlstate: '54000', message: expect.stringContaining('outside literals and comments') });
    expect(countedOnEventLoop.filter((bytes) => bytes > INLINE_PARSE_BYTES)).toEqual([]);
  }, 60_000);
});
