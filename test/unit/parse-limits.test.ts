// The parser's thread is shared by every session: no text over MAX_PARSE_BYTES reaches it, and one login role (all
// its sessions together) cannot hold the places or the turns of the others (review 4, finding 7; review 20).

import { describe, expect, it } from 'vitest';
import { analyze } from '../../src/intercept/analyze.js';
import { loadParser, parseStatements } from '../../src/sql/parse.js';
import { codeBytes } from '../../src/sql/identifiers.js';
import { INLINE_PARSE_BYTES, MAX_PARSE_BYTES, MAX_PARSE_CODE_BYTES, parsingFor } from '../../src/sql/parse-task.js';

const MiB = 1024 ** 2;
const bigLiteral = `'${'pg_llm_chat( '.repeat(INLINE_PARSE_BYTES / 10)}'`;

/** A statement calling an LLM function, of dense expressions (the parser's worst case), of about `bytes`. */
function denseCall(bytes: number): string {
  return `SELECT pg_llm_chat('llm', 'x') FROM (VALUES ${'(1+1*2-3),'.repeat(Math.floor((bytes - 80) / 10))}(1)) v(a)`;
}

describe('limits of the parser thread', () => {
  it('refuses a statement over the limit with 54000 and a hint, before parsing it', async () => {
    await loadParser();
    const error = await analyze(denseCall(38 * MiB)).catch((reason: unknown) => reason);
    expect(error).toMatchObject({ sqlstate: '54000', message: expect.stringContaining('too big for the proxy to parse'), hint: expect.stringContaining('bind parameters') });
    await expect(parseStatements(`SELECT '${'x'.repeat(MAX_PARSE_BYTES)}'`)).rejects.toMatchObject({ sqlstate: '54000' });
  }, 60_000);

  it('refuses a statement of more code than the limit, however small in bytes: code is what a parse costs', async () => {
    const sql = denseCall(MAX_PARSE_CODE_BYTES + 16 * 1024);
    expect(Buffer.byteLength(sql)).toBeLessThan(MAX_PARSE_BYTES / 16);
    await expect(analyze(sql)).rejects.toMatchObject({ sqlstate: '54000', message: expect.stringContaining('outside literals and comments') });
  });

  it('counts as code what is outside string literals and comments, as the parser reads them', () => {
    const code = (sql: string) => codeBytes(Buffer.from(sql));
    expect(code(`SELECT 'a''b', E'c\\'d', $t$e$t$, $1 -- f\n/* g /* h */ */`)).toBe(code(`SELECT , , , $1 `));
    expect(code(`SELECT '\' || 1`)).toBe(code(`SELECT  || 1`));
  });

  it('still takes a call after big data just under the limit, within the worker\'s heap limit', async () => {
    const sql = `SELECT pg_llm_chat('llm', '${'data, '.repeat(Math.floor((MAX_PARSE_BYTES - 64) / 6))}') AS a`;
    expect(Buffer.byteLength(sql)).toBeLessThanOrEqual(MAX_PARSE_BYTES);
    expect((await analyze(sql)).plans?.map((plan) => plan.kind)).toEqual(['calls']);
  }, 120_000);

  it('gives one role only a few places in the queue', async () => {
    const greedy = 'greedy';
    const results = await parsingFor(greedy, () => Promise.allSettled(Array.from({ length: 6 }, () => parseStatements(`SELECT ${bigLiteral}`))));
    // One running, two waiting; the rest are told to retry.
    expect(results.map((result) => result.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled', 'rejected', 'rejected', 'rejected']);
    expect(results.at(-1)).toMatchObject({ status: 'rejected', reason: { sqlstate: '53000' } });
  });

  it("serves another role's statement before a busy role's next one", async () => {
    const busy = 'busy';
    const other = 'other';
    const finished: string[] = [];
    const track = (who: string, work: Promise<unknown>) => work.then(() => void finished.push(who));
    const first = parsingFor(busy, () => track('busy 1', parseStatements(`SELECT ${bigLiteral}`)));
    const second = parsingFor(busy, () => track('busy 2', parseStatements(`SELECT ${bigLiteral}`)));
    const third = parsingFor(other, () => track('other', parseStatements(`SELECT ${bigLiteral}`)));
    await Promise.all([first, second, third]);
    expect(finished).toEqual(['busy 1', 'other', 'busy 2']);
  });
});
