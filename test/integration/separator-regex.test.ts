// A separator given as a regular expression (ai.chunk_text, ai.chunk_text_recursively, a vectorizer's chunking) is
// the caller's pattern, which V8 runs by backtracking: (a|a)+$ on 27 a's and a '!' takes seconds, every added 'a'
// twice as long. It once ran on the event loop every session shares (review 14), so one statement of any role, or one
// row of a vectorizer's table, held every other session and every cancel request until it was done. The cut now runs
// in a thread with a time limit: the others are answered meanwhile, and the pattern is refused once the limit is over.
//
// Whether the cut is still running is read from the server: the calling session idle in its transaction after the
// proxy's collecting pass (or the vectorizer's worker after reading its batch's rows), before the proxy goes on.

import type pg from 'pg';
import { describe, expect, it } from 'vitest';
import { clientOf } from '../support/pg-ai.js';
import { aiDatabase, pgaiSuite } from '../support/pgai.js';
import { sendCancel } from '../support/raw-client.js';
import { alicesTable } from '../support/vectorizer.js';
import { startWorker } from '../support/worker.js';

const suite = pgaiSuite();
const EVENTUALLY = { timeout: 20_000, interval: 20 };
/** Backtracked over by BACKTRACKING for seconds (on the busy 2-core host, 10 to 20 s), twice as long for each added 'a'. */
const HOSTILE_TEXT = `repeat('a', 27) || '!'`;
const BACKTRACKING = '(a|a)+$';

const rows = async (client: pg.Client, sql: string, values: unknown[] = []) => (await client.query(sql, values)).rows;

/** mallory (trust_user) and alice (password_user), each in a session of their own through the proxy. */
async function twoRoles() {
  const { name, direct } = await aiDatabase(suite);
  const mallory = await clientOf(suite.proxy, name, 'trust');
  const alice = await clientOf(suite.proxy, name, 'password');
  const [{ pid }] = await rows(mallory, 'SELECT pg_backend_pid() AS pid');
  return { direct, mallory, alice, pid: pid as number };
}

/** The session is past the proxy's collecting pass: the proxy computes its calls. */
const computing = (direct: pg.Client, pid: number) => async () =>
  (await rows(direct, `SELECT state = 'idle in transaction' AND query = 'RELEASE SAVEPOINT pg_llm_pass' AS computing FROM pg_stat_activity WHERE pid = $1`, [pid]))[0]?.computing;

/** A statement's rows, or its error. */
const outcome = (running: Promise<pg.QueryResult>) => running.then((result) => result.rows, (error: unknown) => error);

describe('a regular expression as separator', () => {
  it("of ai.chunk_text that backtracks is refused with 2201B once its time is up, another role's statement answered meanwhile", async () => {
    const { direct, mallory, alice, pid } = await twoRoles();
    const hostile = outcome(mallory.query(`SELECT count(*) AS n FROM ai.chunk_text(${HOSTILE_TEXT}, separator => '${BACKTRACKING}', is_separator_regex => true)`));
    await expect.poll(computing(direct, pid), EVENTUALLY).toBe(true);
    expect(await rows(alice, 'SELECT 1 AS one')).toEqual([{ one: 1 }]);
    // alice was answered while mallory's separator was still at work (before, alice waited for it to finish).
    expect(await computing(direct, pid)()).toBe(true);
    expect(await hostile).toMatchObject({
      code: '2201B',
      message: expect.stringMatching(/^the separator, a regular expression, took more than [\d.]+ s to cut the text$/),
      hint: expect.stringContaining('(a|a)+'),
    });
    expect(await rows(mallory, 'SELECT 1 AS one')).toEqual([{ one: 1 }]);
  }, 120_000);

  it('of ai.chunk_text_recursively stops at a cancel, read while the separator is at work', async () => {
    const { direct, mallory, pid } = await twoRoles();
    const hostile = outcome(mallory.query(`SELECT count(*) AS n FROM ai.chunk_text_recursively(${HOSTILE_TEXT}, separators => array['${BACKTRACKING}'], is_separator_regex => true)`));
    await expect.poll(computing(direct, pid), EVENTUALLY).toBe(true);
    const { processID, secretKey } = mallory as unknown as { processID: number; secretKey: number };
    await sendCancel(suite.proxy.port, processID, secretKey);
    // Canceled, not refused at the time limit: the cancel was read and ended the cut.
    expect(await hostile).toMatchObject({ code: '57014' });
    expect(await rows(mallory, 'SELECT 1 AS one')).toEqual([{ one: 1 }]);
  }, 120_000);

  it("keeps what pgai's (Python's) patterns may use, lookarounds and characters beyond 16 bits, and cuts 2 MB of text", async () => {
    const { mallory } = await twoRoles();
    const chunks = async (sql: string) => (await rows(mallory, sql)).map((row) => row.chunk);
    expect(await chunks(`SELECT chunk FROM ai.chunk_text_recursively(E'# A\\ntext a\\n# B\\ntext b', separators => array['\\n(?=# )'], is_separator_regex => true, chunk_size => 12, chunk_overlap => 0)`)).toEqual([
      '# A\ntext a',
      '# B\ntext b',
    ]);
    expect(await chunks(`SELECT chunk FROM ai.chunk_text('one. two! three', separator => '(?<=[.!])\\s', is_separator_regex => true, chunk_size => 5, chunk_overlap => 0)`)).toEqual(['one.', 'two!', 'three']);
    expect(await chunks(`SELECT chunk FROM ai.chunk_text('a😀😀b😀c', separator => '😀+', is_separator_regex => true, chunk_size => 1, chunk_overlap => 0)`)).toEqual(['a', 'b', 'c']);
    const big = await rows(mallory, `SELECT count(*)::int AS n, max(length(chunk)) AS longest FROM ai.chunk_text(repeat(repeat('word ', 100) || E'\\n\\n\\n', 4000), separator => '\\n{2,}', is_separator_regex => true, chunk_size => 600, chunk_overlap => 0)`);
    // 4,000 paragraphs of 500 characters and their blank lines (2 MB together), a chunk each, trimmed.
    expect(big).toEqual([{ n: 4000, longest: 499 }]);
  }, 120_000);

  it("of a vectorizer, backtracking on a row, has the row refused for good, the owner's statements answered while the worker cuts it", async () => {
    const { name, direct, alice } = await alicesTable(suite.proxy);
    await alice.query(`SELECT ai.create_vectorizer('alice.docs'::regclass, loading => ai.loading_column('body'),
                         embedding => ai.embedding_openai('text-embedding-3-small', 4),
                         chunking => ai.chunking_character_text_splitter(800, 0, '${BACKTRACKING}', is_separator_regex => true))`);
    await alice.query(`INSERT INTO alice.docs VALUES (1, 'hostile', ${HOSTILE_TEXT})`);
    startWorker(name, { retryDelayMs: 50 }, { env: { OPENAI_API_KEY: 'sk-test', OPENAI_BASE_URL: suite.fake.baseUrl } }, 'trust_user');
    // The worker has read its batch's rows (WITH sized AS …, vectorizer-reads.ts) and cuts them, in its transaction.
    const cutting = async () =>
      (await rows(direct, `SELECT count(*)::int AS n FROM pg_stat_activity WHERE state = 'idle in transaction' AND query LIKE 'WITH sized AS (%'`))[0].n;
    await expect.poll(cutting, EVENTUALLY).toBe(1);
    expect(await rows(alice, 'SELECT 1 AS one')).toEqual([{ one: 1 }]);
    expect(await cutting()).toBe(1);
    const failed = () => rows(direct, `SELECT id, failure_step FROM alice._vectorizer_q_failed_1`);
    await expect.poll(failed, EVENTUALLY).toEqual([{ id: 1, failure_step: 'chunking' }]);
    expect(await rows(direct, `SELECT message, details FROM ai.vectorizer_errors`)).toEqual([
      { message: expect.stringMatching(/^the row is not embedded: the separator, a regular expression, took more than [\d.]+ s to cut the text$/), details: { step: 'chunking', rows: 1 } },
    ]);
  }, 120_000);
});
