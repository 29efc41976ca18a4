// What a parse task runs on the event loop: a small text, or a text of literals with little code. Dense code costs an
// analysis microseconds a byte, so a statement with more of it goes to the parser's thread, where it holds up no session.

import { describe, expect, it, vi } from 'vitest';
import { analyze } from '../../src/intercept/analyze.js';
import { loadParser } from '../../src/sql/parse.js';
import { parsedOnEventLoop } from '../support/parsed-on-event-loop.js';
import { INLINE_CODE_BYTES, INLINE_PARSE_BYTES } from '../../src/sql/parse-task.js';

vi.mock('libpg-query', async (original) => (await import('../support/parsed-on-event-loop.js')).recordingParser(original));

/** A statement calling an LLM function, with about `bytes` of code: a long select list of numbers. */
function denseCode(bytes: number): string {
  return `SELECT pg_llm_chat('m', 'x'), ${Array.from({ length: Math.ceil(bytes / 2) }, () => '1').join(',')}`;
}

async function parsedInline(sql: string): Promise<boolean> {
  await loadParser();
  parsedOnEventLoop.length = 0;
  const analysis = await analyze(sql);
  expect(analysis.plans?.map((plan) => plan.kind)).toEqual(['calls']);
  return parsedOnEventLoop.includes(Buffer.byteLength(sql));
}

describe('parse tasks on the event loop', () => {
  it('run a statement with a little code there', async () => {
    expect(await parsedInline(denseCode(INLINE_CODE_BYTES / 2))).toBe(true);
  });

  it('run a statement of mostly literal text there, up to the bound on its bytes', async () => {
    const literal = `'${'words of a prompt '.repeat((INLINE_PARSE_BYTES - 100) / 18)}'`;
    expect(await parsedInline(`SELECT pg_llm_chat('m', ${literal})`)).toBe(true);
  });

  it('send a statement with more code than the bound to the parser\'s thread, though it is short', async () => {
    const sql = denseCode(INLINE_CODE_BYTES * 2);
    expect(Buffer.byteLength(sql)).toBeLessThan(INLINE_PARSE_BYTES);
    expect(await parsedInline(sql)).toBe(false);
    // The parser's thread loads its own copy of the parser first: seconds, and more on a loaded host.
  }, 120_000);
});
