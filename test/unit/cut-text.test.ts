// The threads that cut texts by a regular expression (or a long text by many separators): a cut is stopped at its
// time limit or when its caller gives up, errors come back with their SQLSTATE (and their class, which the vectorizer
// worker tells apart), a free thread goes to the login role with the fewest cuts running, and one login role's cuts
// leave a thread for the others.

import { describe, expect, it } from 'vitest';
import { cutsHeld, cutText, CutTooSlow, MAX_SEPARATOR_CHARACTERS, threadsStarting } from '../../functions/pgai/cut-text.js';
import { TooManyChunks, type Cut } from '../../functions/pgai/text-splitter.js';

const options = { chunkSize: 10, chunkOverlap: 0, isSeparatorRegex: true, keepSeparator: false };
/** Backtracks for hours: twice as long for each 'a'. */
const HOSTILE: Cut = { text: `${'a'.repeat(40)}!`, separators: '(a|a)+$', options };
const as = (asker: string) => async () => asker;
const never = new AbortController().signal;

describe('a cut in a thread', () => {
  it('is stopped at its time limit with 2201B, the event loop turning meanwhile', async () => {
    let turns = 0;
    const turning = setInterval(() => turns++, 10);
    const outcome = await cutText(HOSTILE, as('mallory'), never).catch((error: unknown) => error);
    clearInterval(turning);
    expect(outcome).toBeInstanceOf(CutTooSlow);
    expect(outcome).toMatchObject({ sqlstate: '2201B', hint: expect.stringContaining('one way only') });
    expect(turns).toBeGreaterThan(0);
    expect(cutsHeld()).toBe(0);
  }, 30_000);

  it('ends when its caller gives up, with the reason given', async () => {
    const controller = new AbortController();
    const cutting = cutText(HOSTILE, as('mallory'), controller.signal);
    await expect.poll(cutsHeld).toBe(1);
    controller.abort(new Error('canceled by the client'));
    await expect(cutting).rejects.toThrow('canceled by the client');
    expect(cutsHeld()).toBe(0);
  }, 30_000);

  it('gives back the chunks, or the error as the splitter raised it', async () => {
    expect(await cutText({ text: 'a1b22c333d', separators: '[0-9]+', options: { ...options, chunkSize: 1 } }, as('alice'), never)).toEqual(['a', 'b', 'c', 'd']);
    await expect(cutText({ ...HOSTILE, separators: '(a' }, as('alice'), never)).rejects.toMatchObject({ sqlstate: '2201B', message: 'invalid regular expression: Unterminated group' });
    // V8 finds a pattern too large only when it first runs it (this one was an internal error, XX000, quoting it whole).
    const large = cutText({ ...HOSTILE, separators: `${'a'.repeat(60_000)}|b` }, as('alice'), never);
    await expect(large).rejects.toMatchObject({ sqlstate: '2201B', message: 'invalid regular expression: Regular expression too large' });
    const overlapping = cutText({ text: 'a '.repeat(4000), separators: ' ', options: { ...options, chunkSize: 2000, chunkOverlap: 2000 } }, as('alice'), never);
    await expect(overlapping).rejects.toBeInstanceOf(TooManyChunks);
    await expect(cutText({ ...HOSTILE, separators: 'x'.repeat(MAX_SEPARATOR_CHARACTERS + 1) }, as('alice'), never)).rejects.toMatchObject({ sqlstate: '54000' });
  }, 30_000);

  it("goes to the role with the fewest cuts running, or given a thread longest ago: one role's slow cuts do not hold another's up", async () => {
    const settled: string[] = [];
    const track = (label: string, cutting: Promise<string[]>) => cutting.then(() => settled.push(label), () => settled.push(label));
    const mallorys = [1, 2, 3, 4].map((i) => track(`mallory ${i}`, cutText(HOSTILE, as('mallory'), never)));
    const alices = track('alice', cutText({ text: 'a b', separators: '\\s', options }, as('alice'), never));
    await Promise.all([...mallorys, alices]);
    // Queued after all four of mallory's, alice's cut was given the second thread free (or the first again).
    expect(settled.filter((label) => label !== 'mallory 1')[0]).toBe('alice');
    expect(cutsHeld()).toBe(0);
  }, 60_000);

  it("of one login role, as whichever role and in whichever database, leave the other thread to another login role's cut", async () => {
    const mallory = (role: string, database: string) => as(JSON.stringify([role, database, 'mallory']));
    /** Stopped at its time limit, 3 s. */
    const slow: Cut = { ...HOSTILE, text: `${'a'.repeat(200_000)}!` };
    const settled: string[] = [];
    const mallorys = [cutText(slow, mallory('mallory', 'one'), never), cutText(slow, mallory('owner', 'two'), never)].map((cutting) =>
      cutting.catch(() => undefined).finally(() => settled.push('mallory')),
    );
    // Both threads have started: one cuts mallory's first text, the other waits ready.
    await expect.poll(() => cutsHeld() === 2 && threadsStarting() === 0, { timeout: 20_000 }).toBe(true);
    expect(await cutText({ text: 'a b', separators: '\\s', options: { ...options, chunkSize: 1 } }, as('alice'), never)).toEqual(['a', 'b']);
    expect(settled).toEqual([]);
    await Promise.all(mallorys);
    expect(cutsHeld()).toBe(0);
  }, 60_000);
});
