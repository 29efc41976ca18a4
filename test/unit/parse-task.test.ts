// Big texts are parsed in the parser's worker thread, one at a time, with a bounded queue.

import { describe, expect, it } from 'vitest';
import { analyze, analyzeNow } from '../../src/intercept/analyze.js';
import { loadParser, parseStatements } from '../../src/sql/parse.js';
import { INLINE_CODE_BYTES, INLINE_PARSE_BYTES } from '../../src/sql/parse-task.js';

const bigLiteral = `'${'pg_llm_chat( '.repeat(INLINE_PARSE_BYTES / 10)}'`;

describe('parsing off the event loop', () => {
  it('analyzes a big statement in the worker as it would on the event loop', async () => {
    await loadParser();
    const sql = `SELECT length(${bigLiteral}) AS n, pg_llm_chat('m', 'x') AS answer; SELECT pg_cancel_backend(42)`;
    const analysis = await analyze(sql);
    expect(analysis.plans?.map((plan) => plan.kind)).toEqual(['calls', 'plain']);
    expect(analysis.cancels).toEqual([{ processId: 42 }]);
    expect(analysis).toEqual(analyzeNow(sql));
  });

  it('passes the parser\'s error on, and refuses more big texts than the queue holds', async () => {
    await expect(parseStatements(`SELECT ${bigLiteral} FROM`)).rejects.toThrow(/syntax error at end of input/);
    const results = await Promise.allSettled(Array.from({ length: 18 }, () => parseStatements(`SELECT ${bigLiteral}`)));
    expect(results.filter((result) => result.status === 'fulfilled')).toHaveLength(17);
    expect(results.at(-1)).toMatchObject({ status: 'rejected', reason: { sqlstate: '53000' } });
  });

  it('analyzes a DO block past INLINE_CODE_BYTES that it reads as code in the worker, whose queue is bounded', async () => {
    // Its body is a literal, which the count of code leaves out, but it is parsed and judged as code (code-bodies.ts).
    const block = `DO $$ BEGIN ${"PERFORM pg_llm_add_model(false, 'openai', 'x', current_setting('app.key'), '{}');\n".repeat(80)} END $$`;
    expect(block.length).toBeGreaterThan(INLINE_CODE_BYTES);
    expect(block.length).toBeLessThan(INLINE_PARSE_BYTES);
    const results = await Promise.allSettled(Array.from({ length: 18 }, () => analyze(block)));
    expect(results.filter((result) => result.status === 'fulfilled')).toHaveLength(17);
    expect(results.at(-1)).toMatchObject({ status: 'rejected', reason: { sqlstate: '53000' } });
  });

  it('fails a tree too deep to come back from the thread, and goes on parsing for the others', async () => {
    // Parsed in the thread (over INLINE_PARSE_BYTES), a tree this deep cannot be read back on the event loop.
    const deep = `SELECT * FROM ${'(SELECT * FROM '.repeat(1500)}t${') s'.repeat(1500)}`;
    expect(Buffer.byteLength(deep)).toBeGreaterThan(INLINE_PARSE_BYTES);
    await expect(parseStatements(deep)).rejects.toMatchObject({ sqlstate: '54001' });
    expect(await parseStatements(`SELECT ${bigLiteral}`)).toHaveLength(1);
  });
});
