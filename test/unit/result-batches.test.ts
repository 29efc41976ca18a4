// How a pass's results are cut into stores: batches of bounded size whatever the statement's total, a clear 54000
// for one answer too large to store, and the rows of a kept set-returning call written out with turns between.

import { describe, expect, it } from 'vitest';
import { STEPS_A_TURN } from '../../src/event-loop-turns.js';
import { STATEMENT_ANSWER_BYTES } from '../../src/intercept/answer-budget.js';
import { jsonInTurns, type JsonBytes } from '../../src/intercept/json-in-turns.js';
import type { Passes } from '../../src/intercept/passes.js';
import { ResultBatches } from '../../src/intercept/result-batches.js';
import type { Result } from '../../src/intercept/upstream-requests.js';
import { withTurnsCounted } from '../support/turns.js';

const MiB = 1024 ** 2;
const STORED: Result = { fields: undefined, parameterTypes: undefined, rows: [], tag: 'INSERT 0 1', noticed: new Set(), error: undefined, refused: undefined, skipped: false, status: undefined };

/** What each store would send as its JSON parameter. */
function recordingPasses(): { passes: Passes; stores: string[] } {
  const stores: string[] = [];
  const passes = {
    store: (_execution: number, entries: JsonBytes[]) => {
      stores.push(`{${entries.map(({ pieces }) => Buffer.concat(pieces).toString('utf8')).join(',')}}`);
      return Promise.resolve(STORED);
    },
  } as unknown as Passes;
  return { passes, stores };
}

describe('result batches', () => {
  it('store every result once, in batches of about STATEMENT_ANSWER_BYTES', async () => {
    const { passes, stores } = recordingPasses();
    const batches = new ResultBatches(passes, 1);
    const answers = Array.from({ length: 40 }, (_, i) => `${i}:`.padEnd(MiB, 'x'));
    for (const [i, answer] of answers.entries()) await batches.add(`key${i}`, answer);
    expect(await batches.end()).toBe(STORED);
    expect(stores.length).toBeGreaterThan(1);
    for (const store of stores) expect(store.length).toBeLessThan(STATEMENT_ANSWER_BYTES + MiB + 100);
    const stored = Object.assign({}, ...stores.map((store) => JSON.parse(store) as Record<string, string>));
    expect(stored).toEqual(Object.fromEntries(answers.map((answer, i) => [`key${i}`, answer])));
  });

  it('refuse with 54000 an answer whose JSON a store cannot take', async () => {
    const { passes, stores } = recordingPasses();
    // Control characters take six bytes each in JSON: 43 MiB of them take 258 MiB.
    await expect(new ResultBatches(passes, 1).add('key', '\u0001'.repeat(43 * MiB))).rejects.toMatchObject({
      sqlstate: '54000',
      message: expect.stringContaining('exceeds the'),
      hint: expect.stringContaining('--max-response-bytes'),
    });
    expect(stores).toEqual([]);
  });

  it("write out a set-returning call's many rows one at a time, the event loop turning between", async () => {
    const { passes, stores } = recordingPasses();
    const rows = Array.from({ length: 64 * 1024 }, (_, i) => ({ seq_no: i, chunk: 'a ', is_final: false }));
    const batches = new ResultBatches(passes, 1);
    const { turns } = await withTurnsCounted(() => batches.add('key', rows));
    await batches.end();
    expect(JSON.parse(stores[0]!)).toEqual({ key: rows });
    // A row a step, and a turn at least every STEPS_A_TURN steps.
    expect(turns).toBeGreaterThanOrEqual(rows.length / STEPS_A_TURN);
  });

  it('encode a big answer a piece at a time, a character of two UTF-16 units never cut in two', async () => {
    const { passes, stores } = recordingPasses();
    const answer = `x${'\u{1F600}é'.repeat(1024 * 1024)}`;
    const batches = new ResultBatches(passes, 1);
    await batches.add('key', answer);
    await batches.end();
    expect(JSON.parse(stores[0]!)).toEqual({ key: answer });
    // Each piece a step, after which the event loop may turn (as long as the pieces take: event-loop-turns.ts).
    const { pieces } = await jsonInTurns(answer);
    expect(pieces.length).toBeGreaterThan(1);
    expect(pieces.every((piece) => !piece.toString('utf8').includes('\uFFFD'))).toBe(true);
  });

  it("write a big answer's JSON a piece at a time as JSON.stringify writes it, escapes and lone halves of pairs at the pieces' edges included", async () => {
    const edge = 1024 * 1024;
    const answer = `${'a'.repeat(edge - 1)}\u{1F600}"\\\n${'b'.repeat(edge - 3)}\uD83D${'c'.repeat(edge)}\uDE00"`;
    const { pieces, bytes } = await jsonInTurns(answer);
    expect(pieces.length).toBeGreaterThan(2);
    expect(bytes).toBe(Buffer.byteLength(JSON.stringify(answer)));
    expect(Buffer.concat(pieces).toString('utf8')).toBe(JSON.stringify(answer));
  });
});
