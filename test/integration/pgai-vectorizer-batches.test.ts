// A pgai vectorizer in the proxy's batch mode (processing config "batch_api": true), against the fake OpenAI server's
// files and batches endpoints on loopback: its rows' chunks submitted as one batch of embeddings requests and tracked
// while the batch runs, written once it has ended as the normal path writes them, a row whose request failed retried,
// a row changed meanwhile left to its newer queue row, and an expired batch falling back to the normal path; each
// text paid for once, and counted in the owner's day, and none submitted once that day's budget is spent.

import { createHash } from 'node:crypto';
import type pg from 'pg';
import { describe, expect, it } from 'vitest';
import { setRoleDailyBudgets, spentToday } from '../../src/cost/daily-spend.js';
import { afterThisTest } from '../support/database.js';
import type { FakeBatch } from '../support/fake-batches.js';
import { fakeEmbedding } from '../support/fake-provider.js';
import { pgAiSuite } from '../support/pg-ai.js';
import { alicesTable } from '../support/vectorizer.js';
import { startWorker } from '../support/worker.js';

const suite = pgAiSuite();
const EVENTUALLY = { timeout: 20_000, interval: 100 };
const KEY = 'sk-vectorizer-batch-0123456789';

const rows = async (client: pg.Client, sql: string) => (await client.query(sql)).rows;

/** alice's vectorizer over alice.docs in batch mode, 30 rows, titled chunks of up to 40 characters, and its worker. */
async function batchedVectorizer(): Promise<{ alice: pg.Client }> {
  const { name, alice } = await alicesTable(suite.proxy);
  await alice.query(`INSERT INTO alice.docs SELECT i, 't' || i, 'body number ' || i FROM generate_series(1, 29) AS i`);
  await alice.query(`INSERT INTO alice.docs VALUES (30, 'long', 'the purple elephant sits on a red mushroom in the forest')`);
  await alice.query(`SELECT ai.create_vectorizer('alice.docs'::regclass,
                       loading => ai.loading_column('body'),
                       embedding => ai.embedding_openai('text-embedding-3-small', 4),
                       chunking => ai.chunking_recursive_character_text_splitter(40, 0),
                       formatting => ai.formatting_python_template('$title: $chunk'),
                       processing => ai.processing_default(batch_size => 100) || '{"batch_api": true}')`);
  startWorker(name, {}, { env: { OPENAI_API_KEY: KEY, OPENAI_BASE_URL: suite.fake.baseUrl } }, 'trust_user');
  return { alice };
}

/** The batch submitted after those there were, once it is there. */
async function nextBatch(before: number): Promise<FakeBatch> {
  await expect.poll(() => suite.fake.batches.all.length, EVENTUALLY).toBeGreaterThan(before);
  return suite.fake.batches.all[before]!;
}

/** The texts of the batch's requests, in order. */
const batchTexts = (batch: FakeBatch): string[] => batch.requests.flatMap((request) => request.body.input as string[]);
/** The texts the fake was asked to embed at once, outside a batch. */
const embeddedNow = (): string[] => suite.fake.requests.filter((request) => request.path.endsWith('/embeddings')).flatMap((request) => request.body.input as string[]);

const store = (alice: pg.Client) => rows(alice, `SELECT id, chunk_seq, title, chunk, embedding FROM alice.docs_embedding ORDER BY id, chunk_seq`);
const tracked = (alice: pg.Client) => rows(alice, `SELECT batch_id, jsonb_array_length(keys) AS keys FROM _pg_llm_catalog.pg_llm_vectorizer_batches`);
const queued = async (alice: pg.Client) => (await rows(alice, `SELECT count(*)::int AS n FROM alice._vectorizer_q_1`))[0].n as number;

/** What the normal path stores of the 30 rows: each chunk with the fake's embedding of its formatted text. */
function expectedStore(): Array<Record<string, unknown>> {
  const stored = Array.from({ length: 29 }, (_, i) => ({ id: i + 1, chunk_seq: 0, title: `t${i + 1}`, chunk: `body number ${i + 1}` }));
  stored.push({ id: 30, chunk_seq: 0, title: 'long', chunk: 'the purple elephant sits on a red' }, { id: 30, chunk_seq: 1, title: 'long', chunk: 'mushroom in the forest' });
  return stored.map((row) => ({ ...row, embedding: fakeEmbedding(`${row.title}: ${row.chunk}`) }));
}

describe('a pgai vectorizer in batch mode', { timeout: 90_000 }, () => {
  it("submits its rows' chunks as one batch, tracks them while it runs, and writes them as the normal path does once it ends", async () => {
    const before = suite.fake.batches.all.length;
    const spentBefore = spentToday('trust_user').calls;
    suite.fake.requests.length = 0;
    const { alice } = await batchedVectorizer();
    const batch = await nextBatch(before);
    expect(batch.endpoint).toBe('/v1/embeddings');
    expect(batchTexts(batch).sort()).toEqual(expectedStore().map((row) => `${row.title}: ${row.chunk}`).sort());
    // With the proxy's key, and nothing asked outside the batch.
    expect(suite.fake.requests.filter((request) => request.path.endsWith('/files')).map((request) => request.authorization)).toEqual([`Bearer ${KEY}`]);
    expect(embeddedNow()).toEqual([]);
    // Tracked, off the queue, polled, and the store untouched while it runs.
    await expect.poll(() => tracked(alice), EVENTUALLY).toEqual([{ batch_id: batch.id, keys: 30 }]);
    expect(await queued(alice)).toBe(0);
    await expect.poll(() => batch.polls, EVENTUALLY).toBeGreaterThan(1);
    expect(await store(alice)).toEqual([]);

    suite.fake.batches.end(batch);
    await expect.poll(() => store(alice), EVENTUALLY).toEqual(expectedStore());
    expect(await tracked(alice)).toEqual([]);
    // Once: no other batch, no request outside it, and its one request counted in alice's day.
    expect(suite.fake.batches.all.length).toBe(before + 1);
    expect(embeddedNow()).toEqual([]);
    expect(batch.requests).toHaveLength(1);
    expect(spentToday('trust_user').calls - spentBefore).toBe(1);
  });

  it('retries a row whose request failed, and leaves a row changed meanwhile to its newer queue row', async () => {
    const before = suite.fake.batches.all.length;
    const { alice } = await batchedVectorizer();
    const batch = await nextBatch(before);
    await expect.poll(() => tracked(alice), EVENTUALLY).toHaveLength(1);
    // Row 5 changes while its batch runs: queued again by its trigger, and submitted in a batch of its own.
    await alice.query(`UPDATE alice.docs SET body = 'a newer body' WHERE id = 5`);
    const second = await nextBatch(before + 1);
    expect(batchTexts(second)).toEqual(['t5: a newer body']);
    suite.fake.batches.end(second);
    await expect.poll(async () => (await store(alice)).map((row) => row.chunk), EVENTUALLY).toEqual(['a newer body']);
    // The first batch's request fails: its rows but the changed one go back to the queue, a retry counted.
    suite.fake.batches.end(batch, () => new Error('the input was refused'));
    await expect.poll(async () => (await nextBatch(before + 2)).requests.length, EVENTUALLY).toBe(1);
    const third = suite.fake.batches.all[before + 2]!;
    expect(batchTexts(third)).not.toContain('t5: body number 5');
    expect(batchTexts(third)).toHaveLength(30);
    const errors = await rows(alice, `SELECT message, details FROM ai.vectorizer_errors`);
    expect(errors).toEqual([{ message: 'the batch request failed: the input was refused', details: { step: 'embedding', rows: 29 } }]);
    suite.fake.batches.end(third);
    const expected = expectedStore().map((row) => (row.id === 5 ? { ...row, chunk: 'a newer body', embedding: fakeEmbedding('t5: a newer body') } : row));
    await expect.poll(() => store(alice), EVENTUALLY).toEqual(expected);
    expect(await tracked(alice)).toEqual([]);
    expect(embeddedNow()).toEqual([]);
  });

  it('falls back to the normal path when its batch expires, asking for each text once', async () => {
    const before = suite.fake.batches.all.length;
    const { alice } = await batchedVectorizer();
    const batch = await nextBatch(before);
    await expect.poll(() => tracked(alice), EVENTUALLY).toHaveLength(1);
    suite.fake.requests.length = 0;
    suite.fake.batches.fail(batch, 'expired');
    await expect.poll(() => store(alice), EVENTUALLY).toEqual(expectedStore());
    expect(embeddedNow().sort()).toEqual(batchTexts(batch).sort());
    expect(await tracked(alice)).toEqual([]);
    expect(await queued(alice)).toBe(0);
    expect(suite.fake.batches.all.length).toBe(before + 1);
  });

  it("reads a batch only for the row it was submitted for: a row naming another's batch, or an unknown one, has its rows embedded at once", async () => {
    // The victim's batch, submitted with the proxy's key, still running.
    const before = suite.fake.batches.all.length;
    const { alice: victim } = await batchedVectorizer();
    const victims = await nextBatch(before);
    await expect.poll(() => tracked(victim), EVENTUALLY).toHaveLength(1);

    // In another database, an owner whose vectorizer has nothing queued writes rows of its batches by hand: one names
    // the victim's batch, its digests those of its own row's text, another a batch nobody submitted.
    const { name, alice: attacker } = await alicesTable(suite.proxy);
    await attacker.query(`INSERT INTO alice.docs VALUES (1, 'own', 'my own text'), (2, 'two', 'another text')`);
    await attacker.query(`SELECT ai.create_vectorizer('alice.docs'::regclass, loading => ai.loading_column('body'),
                            embedding => ai.embedding_openai('text-embedding-3-small', 4), formatting => ai.formatting_python_template('$title: $chunk'),
                            processing => ai.processing_default() || '{"batch_api": true}')`);
    await attacker.query(`DELETE FROM alice._vectorizer_q_1`);
    const sha = (text: string) => createHash('sha256').update(text).digest('hex');
    const digests = batchTexts(victims).map((_, i) => (i === 0 ? sha('own: my own text') : sha(`padding ${i}`)));
    const forged = `INSERT INTO _pg_llm_catalog.pg_llm_vectorizer_batches (id, batch_id, keys, requests) VALUES (1, $1, $2, $3)`;
    await attacker.query(forged, [victims.id, JSON.stringify([{ key: { id: 1 }, retries: 0 }]), JSON.stringify([digests])]);
    await attacker.query(forged, ['batch_nobody_submitted', JSON.stringify([{ key: { id: 2 }, retries: 0 }]), JSON.stringify([[sha('two: another text')]])]);
    startWorker(name, {}, { env: { OPENAI_API_KEY: KEY, OPENAI_BASE_URL: suite.fake.baseUrl } }, 'trust_user');
    suite.fake.batches.end(victims);

    // The attacker's rows get the embeddings of their own texts, asked for at once; the victim's batch is the victim's.
    await expect.poll(() => rows(attacker, `SELECT id, embedding FROM alice.docs_embedding ORDER BY id`), EVENTUALLY).toEqual([
      { id: 1, embedding: fakeEmbedding('own: my own text') },
      { id: 2, embedding: fakeEmbedding('two: another text') },
    ]);
    expect(await tracked(attacker)).toEqual([]);
    await expect.poll(() => store(victim), EVENTUALLY).toEqual(expectedStore());
    expect(await tracked(victim)).toEqual([]);
    // Rows the worker writes carry the tag their batch was submitted with.
    expect(victims.metadata?.pg_llm_tag).toMatch(/^[\w-]{32}$/);
  });

  it("submits no batch for an owner whose day is spent: its rows wait in the queue for the next day", async () => {
    const before = suite.fake.batches.all.length;
    setRoleDailyBudgets(new Map([['trust_user', { calls: spentToday('trust_user').calls }]]));
    afterThisTest(async () => setRoleDailyBudgets(new Map()));
    const { alice } = await batchedVectorizer();
    await expect.poll(() => rows(alice, `SELECT message FROM ai.vectorizer_errors`), EVENTUALLY).toEqual([{ message: expect.stringContaining(`role "trust_user"'s daily budget of`) }]);
    expect(suite.fake.batches.all.length).toBe(before);
    expect(await queued(alice)).toBe(30);
    expect(await tracked(alice)).toEqual([]);
  });

  it('is refused for an embeddings API without a batch API, for documents, and when not a boolean', async () => {
    const { alice } = await alicesTable(suite.proxy);
    await expect(
      alice.query(`SELECT ai.create_vectorizer('alice.docs'::regclass, loading => ai.loading_column('body'), embedding => ai.embedding_ollama('nomic', 4),
                     processing => ai.processing_default() || '{"batch_api": true}')`),
    ).rejects.toMatchObject({ code: '0A000', message: 'batch_api is for ai.embedding_openai: the ollama embeddings API has no batch API' });
    await expect(
      alice.query(`SELECT ai.create_vectorizer('alice.docs'::regclass, loading => ai.loading_uri('body'), embedding => ai.embedding_openai('m', 4),
                     processing => ai.processing_default() || '{"batch_api": true}')`),
    ).rejects.toMatchObject({ code: '0A000', message: "batch_api is for a column's text (ai.loading_column), not documents (ai.loading_uri)" });
    await expect(
      alice.query(`SELECT ai.create_vectorizer('alice.docs'::regclass, loading => ai.loading_column('body'), embedding => ai.embedding_openai('m', 4),
                     processing => ai.processing_default() || '{"batch_api": "yes"}')`),
    ).rejects.toMatchObject({ code: '22023', message: 'batch_api in the processing config must be true or false' });
  });
});
