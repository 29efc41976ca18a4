// processing_default's concurrency: the worker runs that many batches of one vectorizer at once, each with queue rows
// of its own, against a fake OpenAI server whose embeddings take a while, so that batches overlap. Each chunk is
// embedded once, a row changed while its batch runs ends with its newest text's embedding, and the batches in flight
// are held to the worker's connections and to the owner's share of the proxy's model calls, whatever the config says.

import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { callBoard } from '../../src/providers/call-board.js';
import { setProcessCallLimit } from '../../src/providers/limits.js';
import { afterThisTest } from '../support/database.js';
import { fakeEmbedding } from '../support/fake-provider.js';
import { pgAiSuite } from '../support/pg-ai.js';
import { alicesTable } from '../support/vectorizer.js';
import { startWorker } from '../support/worker.js';

const suite = pgAiSuite({ embeddingDelayMs: 300 });
const EVENTUALLY = { timeout: 30_000, interval: 100 };
const ROWS = 24;

const rows = async (client: pg.Client, sql: string) => (await client.query(sql)).rows;

/** alice's table of ROWS rows, and her vectorizer over it: two rows a batch, one chunk a row, `processing` as given. */
async function alicesVectorizer(processing: string): Promise<{ name: string; alice: pg.Client }> {
  const { name, alice } = await alicesTable(suite.proxy);
  await alice.query(`INSERT INTO alice.docs SELECT i, 't' || i, 'body ' || i FROM generate_series(1, ${ROWS}) AS i`);
  await alice.query(`SELECT ai.create_vectorizer('alice.docs'::regclass, loading => ai.loading_column('body'),
                       embedding => ai.embedding_openai('text-embedding-3-small', 4), chunking => ai.chunking_none(),
                       processing => ${processing})`);
  suite.fake.requests.length = 0;
  suite.fake.mostAtOnce = 0;
  return { name, alice };
}

function alicesWorker(name: string, concurrency: number): void {
  startWorker(name, { concurrency }, { env: { OPENAI_API_KEY: 'sk-vectorizer-0123456789', OPENAI_BASE_URL: suite.fake.baseUrl } }, 'trust_user');
}

/** The texts the fake was asked to embed, one per input. */
const embedded = () => suite.fake.requests.flatMap((request) => ([] as string[]).concat(request.body.input as string[]));
const pending = (alice: pg.Client) => async () => (await rows(alice, `SELECT ai.vectorizer_queue_pending(1, exact_count => true) AS n`))[0].n;
const stored = (alice: pg.Client) => rows(alice, `SELECT id, chunk, embedding FROM alice.docs_embedding_store ORDER BY id`);

describe("processing_default's concurrency", () => {
  it('runs that many batches of a vectorizer at once, each chunk embedded once, a row changed meanwhile ending with its newest text', async () => {
    const { name, alice } = await alicesVectorizer(`ai.processing_default(batch_size => 2, concurrency => 3)`);
    alicesWorker(name, 8);
    await expect.poll(() => suite.fake.requests.length, EVENTUALLY).toBeGreaterThan(0);
    // Rows in flight, and rows still queued, change.
    await alice.query(`UPDATE alice.docs SET body = 'changed ' || id WHERE id % 2 = 1`);
    await expect.poll(pending(alice), EVENTUALLY).toBe('0');
    const want = Array.from({ length: ROWS }, (_, i) => ({ id: i + 1, chunk: `${(i + 1) % 2 === 1 ? 'changed' : 'body'} ${i + 1}` }));
    await expect.poll(async () => (await stored(alice)).map(({ id, chunk }) => ({ id, chunk })), EVENTUALLY).toEqual(want);
    for (const row of await stored(alice)) expect(row.embedding).toEqual(fakeEmbedding(row.chunk));
    const texts = embedded();
    expect(new Set(texts).size).toBe(texts.length);
    expect(suite.fake.mostAtOnce).toBe(3);
  });

  it("holds a vectorizer's batches in flight to the worker's connections, whatever its config row says", async () => {
    const { name, alice } = await alicesVectorizer(`ai.processing_default(batch_size => 2, concurrency => 50)`);
    await expect(
      alice.query(`SELECT ai.create_vectorizer('alice.docs'::regclass, name => 'more', destination => ai.destination_table('more'), loading => ai.loading_column('body'),
                     embedding => ai.embedding_openai('text-embedding-3-small', 4), processing => ai.processing_default(concurrency => 51))`),
    ).rejects.toMatchObject({ code: '22023', message: 'concurrency must be between 1 and 50' });
    // The owner may write the row by hand.
    await alice.query(`UPDATE _pg_llm_catalog.pg_llm_vectorizers SET config = jsonb_set(config, '{processing,concurrency}', '10000')`);
    // Four connections: three for batches, one kept for the llm.call jobs.
    alicesWorker(name, 3);
    await expect.poll(pending(alice), EVENTUALLY).toBe('0');
    await expect.poll(async () => (await stored(alice)).length, EVENTUALLY).toBe(ROWS);
    expect(suite.fake.mostAtOnce).toBe(3);
  });

  it("counts a vectorizer's embedding requests against its owner's share of the proxy's model calls, as the owner's sessions' are", async () => {
    setProcessCallLimit(256, 2);
    afterThisTest(async () => setProcessCallLimit(256));
    const { name, alice } = await alicesVectorizer(`ai.processing_default(batch_size => 2, concurrency => 5)`);
    alicesWorker(name, 8);
    await expect.poll(pending(alice), EVENTUALLY).toBe('0');
    await expect.poll(async () => (await stored(alice)).length, EVENTUALLY).toBe(ROWS);
    expect(suite.fake.mostAtOnce).toBe(2);
    // The newest call, as the admin dashboard shows it: the owner's, as their sessions' calls are.
    expect(callBoard().recent[0]).toMatchObject({ kind: 'embed', role: `trust_user@${name}` });
  });
});
