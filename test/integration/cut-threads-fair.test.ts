// A separator given as a regular expression is cut in one of two threads the whole proxy shares (cut-text.ts). One
// login role could hold both (review-d): two sessions of mallory's, each cutting 2 MB by a backtracking pattern, made
// alice's cut of three sentences wait for their time limits, 21 s. A role's cuts now hold one thread at most, the
// other left for the other roles, and no cut holds a thread longer than CUT_CEILING_MS.
//
// What the threads hold is read from the proxy, which runs in this process: nothing outside it tells when a cut has
// been given a thread.

import type pg from 'pg';
import { describe, expect, it } from 'vitest';
import { CUT_CEILING_MS, cutsHeld, threadsStarting } from '../../functions/pgai/cut-text.js';
import { clientOf } from '../support/pg-ai.js';
import { aiDatabase, pgaiSuite } from '../support/pgai.js';

const suite = pgaiSuite();
const EVENTUALLY = { timeout: 20_000, interval: 20 };
/** Backtracked over until its time limit: two million a's and a b. */
const HOSTILE = `SELECT count(*) FROM ai.chunk_text(repeat('a', 2000000) || 'b', separator => '(a|a)+$', is_separator_regex => true)`;

const rows = async (client: pg.Client, sql: string) => (await client.query(sql)).rows;

describe("one login role's regular-expression cuts", () => {
  it("hold one cut thread at most: another role's short cut is answered while they are held, and each is stopped at the ceiling", async () => {
    const { name } = await aiDatabase(suite);
    const mallorys = [await clientOf(suite.proxy, name, 'trust'), await clientOf(suite.proxy, name, 'trust')];
    const alice = await clientOf(suite.proxy, name, 'password');
    const hostile = mallorys.map((client) => client.query(HOSTILE).catch((error: unknown) => error));
    // Both of mallory's cuts are in the pool and its threads have started: each thread has one of them or waits ready.
    await expect.poll(() => cutsHeld() === 2 && threadsStarting() === 0, EVENTUALLY).toBe(true);
    const chunks = await rows(alice, `SELECT count(*)::int AS n FROM ai.chunk_text('one. two. three.', separator => '[.]\\s*', is_separator_regex => true, chunk_size => 5, chunk_overlap => 0)`);
    expect(chunks).toEqual([{ n: 3 }]);
    // alice was answered while both of mallory's cuts were still held, not once the first of them was stopped.
    expect(cutsHeld()).toBe(2);
    const refused = { code: '2201B', message: `the separator, a regular expression, took more than ${(CUT_CEILING_MS / 1000).toFixed(1)} s to cut the text` };
    expect(await Promise.all(hostile)).toEqual([expect.objectContaining(refused), expect.objectContaining(refused)]);
    for (const client of mallorys) expect(await rows(client, 'SELECT 1 AS one')).toEqual([{ one: 1 }]);
  }, 120_000);
});
