// The proxy's worker keeps a pgai vectorizer's store in step with its source table, against the fake OpenAI server:
// chunks formatted and embedded, re-embedded on change, removed on delete, each chunk embedded once even with two
// workers on one queue, and a provider that fails and then recovers leaving errors behind and the store complete.

import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { queueCounts } from '../../src/worker/metrics.js';
import { afterThisTest } from '../support/database.js';
import { fakeEmbedding } from '../support/fake-provider.js';
import { plantHostileOverloads } from '../support/hostile-public.js';
import { pgAiSuite } from '../support/pg-ai.js';
import { cluster } from '../support/proxy.js';
import { stallProbes } from '../support/stall-probes.js';
import { TcpRelay } from '../support/tcp-relay.js';
import { alicesTable } from '../support/vectorizer.js';
import { startWorker } from '../support/worker.js';

const suite = pgAiSuite();
const EVENTUALLY = { timeout: 20_000, interval: 100 };
const KEY = 'sk-vectorizer-0123456789';

const rows = async (client: pg.Client, sql: string) => (await client.query(sql)).rows;

/** alice (trust_user) owns alice.docs and a vectorizer over it: chunks of up to 40 characters, titled. */
async function alicesVectorizer(): Promise<{ name: string; direct: pg.Client; alice: pg.Client }> {
  const { name, direct, alice } = await alicesTable(suite.proxy);
  await alice.query(`INSERT INTO alice.docs VALUES (1, 'one', 'the purple elephant sits on a red mushroom in the forest'), (2, 'two', 'a short body')`);
  await alice.query(`SELECT ai.create_vectorizer('alice.docs'::regclass,
                       loading => ai.loading_column('body'),
                       embedding => ai.embedding_openai('text-embedding-3-small', 4),
                       chunking => ai.chunking_recursive_character_text_splitter(40, 0),
                       formatting => ai.formatting_python_template('$title: $chunk'))`);
  return { name, direct, alice };
}

/** A worker for alice's tables, connected as alice, with the proxy's OpenAI key and server in its environment. */
function alicesWorker(name: string, settings: Parameters<typeof startWorker>[1] = {}, port?: number) {
  return startWorker(name, settings, { env: { OPENAI_API_KEY: KEY, OPENAI_BASE_URL: suite.fake.baseUrl } }, 'trust_user', port);
}

/** The texts the fake was asked to embed, one per input. */
function embedded(): string[] {
  return suite.fake.requests.filter((request) => request.path.endsWith('/embeddings')).flatMap((request) => ([] as string[]).concat(request.body.input as string[]));
}

const pending = (alice: pg.Client) => async () => (await rows(alice, `SELECT ai.vectorizer_queue_pending(1, exact_count => true) AS n`))[0].n;
const store = (alice: pg.Client) => rows(alice, `SELECT id, chunk_seq, chunk, embedding FROM alice.docs_embedding ORDER BY id, chunk_seq`);

/** Alice's SELECT 1s through the proxy, 50 ms apart. */
const probes = (alice: pg.Client) => stallProbes(async () => void (await alice.query('SELECT 1')), 50);

describe("the worker of pgai's vectorizers", () => {
  it('embeds every chunk of every row once, re-embeds a changed row, removes a deleted one, and serves a semantic search', async () => {
    const { alice } = await alicesVectorizer();
    suite.fake.requests.length = 0;
    alicesWorker((await rows(alice, `SELECT current_database() AS name`))[0].name);
    await expect.poll(pending(alice), EVENTUALLY).toBe('0');
    const first = await store(alice);
    expect(first.map((row) => [row.id, row.chunk])).toEqual([
      [1, 'the purple elephant sits on a red'],
      [1, 'mushroom in the forest'],
      [2, 'a short body'],
    ]);
    for (const row of first) expect(row.embedding).toEqual(fakeEmbedding(`${row.id === 1 ? 'one' : 'two'}: ${row.chunk}`));
    expect(embedded().sort()).toEqual(['one: mushroom in the forest', 'one: the purple elephant sits on a red', 'two: a short body']);
    // Both rows' chunks went in one request, with the proxy's key.
    expect(suite.fake.requests.map((request) => request.authorization)).toEqual([`Bearer ${KEY}`]);

    suite.fake.requests.length = 0;
    await alice.query(`UPDATE alice.docs SET body = 'a longer body now' WHERE id = 2`);
    await alice.query(`DELETE FROM alice.docs WHERE id = 1`);
    await alice.query(`INSERT INTO alice.docs VALUES (3, 'three', NULL), (4, 'four', 'green')`);
    await expect.poll(async () => (await store(alice)).map((row) => [row.id, row.chunk]), EVENTUALLY).toEqual([
      [2, 'a longer body now'],
      [4, 'green'],
    ]);
    expect(embedded().sort()).toEqual(['four: green', 'two: a longer body now']);
    await expect.poll(pending(alice), EVENTUALLY).toBe('0');

    await alice.query(`SET ai.openai_api_key = '${KEY}'; SET ai.openai_base_url = '${suite.fake.baseUrl}'`);
    const search = `SELECT id, chunk FROM alice.docs_embedding
                     ORDER BY _pg_llm_catalog.cosine_similarity(embedding, ai.openai_embed('text-embedding-3-small', 'four: green')) DESC LIMIT 1`;
    expect(await rows(alice, search)).toEqual([{ id: 4, chunk: 'green' }]);
  });

  it('two workers on one queue embed each chunk exactly once, in batches', async () => {
    const { name, alice } = await alicesVectorizer();
    await alice.query(`INSERT INTO alice.docs SELECT i, 't' || i, 'body number ' || i FROM generate_series(10, 309) AS i`);
    suite.fake.requests.length = 0;
    alicesWorker(name);
    alicesWorker(name);
    await expect.poll(pending(alice), EVENTUALLY).toBe('0');
    const stored = await rows(alice, `SELECT count(*)::int AS n FROM alice.docs_embedding_store`);
    expect(stored).toEqual([{ n: 303 }]);
    const texts = embedded();
    expect(texts).toHaveLength(303);
    expect(new Set(texts).size).toBe(303);
    // pgai's batch: 50 rows a claim, each claim's chunks in one request.
    expect(suite.fake.requests.length).toBeLessThanOrEqual(10);
  });

  it('records the errors of a failing provider, retries, and converges once it recovers', async () => {
    const { name, alice } = await alicesVectorizer();
    suite.fake.requests.length = 0;
    suite.fake.script({ kind: 'error', status: 400, message: 'the provider is down' }, { kind: 'error', status: 400, message: 'the provider is down' });
    alicesWorker(name, { retryDelayMs: 50 });
    await expect.poll(async () => (await store(alice)).length, EVENTUALLY).toBe(3);
    const errors = await rows(alice, `SELECT name, message, details FROM ai.vectorizer_errors ORDER BY recorded`);
    expect(errors).toHaveLength(2);
    expect(errors[0]).toMatchObject({ name: 'alice_docs_embedding_store', details: { step: 'embedding', rows: 2 } });
    expect(errors[0].message).toContain('the provider is down');
    expect(errors[0].message).not.toContain(KEY);
    expect(await rows(alice, `SELECT count(*)::int AS n FROM alice._vectorizer_q_failed_1`)).toEqual([{ n: 0 }]);
  });

  it("counts the rows waiting in each vectorizer's queue for the admin dashboard", async () => {
    const { name, alice } = await alicesVectorizer();
    // One batch, one request, failed: its rows wait for a retry a minute away.
    suite.fake.script({ kind: 'error', status: 400, message: 'the provider is down' });
    alicesWorker(name, { retryDelayMs: 60_000 });
    await expect.poll(async () => rows(alice, `SELECT count(*)::int AS n FROM ai.vectorizer_errors`), EVENTUALLY).toEqual([{ n: 1 }]);
    const counted = () => queueCounts().find((queue) => queue.database.endsWith(`/${name}`))?.vectorizers;
    await expect.poll(counted, EVENTUALLY).toEqual([{ name: 'alice_docs_embedding_store', pending: 2 }]);
  });

  it("retries a failed batch calling no function or operator another role put first in the owner's search_path", async () => {
    const { name, direct, alice } = await alicesVectorizer();
    const workerCalls = await plantHostileOverloads(direct, name, 'trust_user');
    suite.fake.script({ kind: 'error', status: 400, message: 'the provider is down' });
    alicesWorker(name, { retryDelayMs: 50 });
    await expect.poll(async () => (await store(alice)).length, EVENTUALLY).toBe(3);
    expect(await rows(alice, `SELECT count(*)::int AS n FROM ai.vectorizer_errors`)).toEqual([{ n: 1 }]);
    expect(await workerCalls()).toEqual([]);
  });

  it('refuses for good a row too large to cut, never reading it, without holding the sessions up, and embeds the others', async () => {
    const { name, alice } = await alicesVectorizer();
    const quiet = await probes(alice);
    const relay = await TcpRelay.start(cluster().port);
    afterThisTest(() => relay.stop());
    alicesWorker(name, { retryDelayMs: 50 }, relay.port);
    // 8 MB written by anyone who may insert into the table.
    await alice.query(`INSERT INTO alice.docs VALUES (3, 'big', repeat('lorem ipsum dolor sit amet ', 300000))`);
    const during = await probes(alice);
    await expect.poll(pending(alice), EVENTUALLY).toBe('0');
    // The row is not even read: its size is checked where it is (before, it was read whole and parsed once, and
    // earlier still cut, which held everyone up for seconds at every retry).
    expect(relay.bytesFromTarget).toBeLessThan(1_000_000);
    expect(during.delayMs).toBeLessThan(4 * quiet.delayMs + 1500);
    expect((await store(alice)).map((row) => row.id)).toEqual([1, 1, 2]);
    expect(await rows(alice, `SELECT id, failure_step FROM alice._vectorizer_q_failed_1`)).toEqual([{ id: 3, failure_step: 'chunking' }]);
    expect(await rows(alice, `SELECT message, details FROM ai.vectorizer_errors`)).toEqual([
      { message: expect.stringContaining('the row is not embedded: its body is longer than'), details: { step: 'chunking', rows: 1 } },
    ]);
  }, 60_000);

  it('reads only the columns it embeds, refuses unread a row whose columns read pass 32 MiB, and embeds the others', async () => {
    const { name, alice } = await alicesVectorizer();
    const relay = await TcpRelay.start(cluster().port);
    afterThisTest(() => relay.stop());
    // 40 MB in a column the template names, and in one nothing names, written by anyone who may insert into the table.
    await alice.query(`ALTER TABLE alice.docs ADD COLUMN notes text`);
    await alice.query(`INSERT INTO alice.docs VALUES (3, repeat('t', 40 * 1024 * 1024), 'big title', NULL), (4, 'four', 'big notes', repeat('n', 40 * 1024 * 1024))`);
    alicesWorker(name, { retryDelayMs: 50 }, relay.port);
    await expect.poll(pending(alice), EVENTUALLY).toBe('0');
    // Before, both rows were read whole (to_jsonb of the row), 80 MB through the relay.
    expect(relay.bytesFromTarget).toBeLessThan(1_000_000);
    expect((await store(alice)).map((row) => [row.id, row.chunk])).toEqual([
      [1, 'the purple elephant sits on a red'],
      [1, 'mushroom in the forest'],
      [2, 'a short body'],
      [4, 'big notes'],
    ]);
    expect(await rows(alice, `SELECT id, failure_step FROM alice._vectorizer_q_failed_1`)).toEqual([{ id: 3, failure_step: 'loading' }]);
    expect(await rows(alice, `SELECT message, details FROM ai.vectorizer_errors`)).toEqual([
      {
        message: 'the row is not embedded: its key, body and the columns its formatting template names are larger than the worker reads (33554432 bytes as JSON text)',
        details: { step: 'loading', rows: 1 },
      },
    ]);
  }, 60_000);

  it('reads at most 32 MiB of a batch\'s rows at once, leaving the rest of its claim to the next batch', async () => {
    const { name, alice } = await alicesVectorizer();
    // Three rows of 11 MiB each, every one embeddable, 33 MiB together.
    await alice.query(`INSERT INTO alice.docs SELECT i, repeat('t', 11 * 1024 * 1024), 'x' FROM generate_series(3, 5) AS i`);
    // The first batch fails, and its error counts its rows.
    suite.fake.script({ kind: 'error', status: 400, message: 'the provider is down' });
    alicesWorker(name, { retryDelayMs: 50 });
    // Chunking and embedding 33 MiB takes this worker 15 s alone, and more beside another test run: a longer wait.
    await expect.poll(async () => (await rows(alice, `SELECT DISTINCT id FROM alice.docs_embedding ORDER BY id`)).map((row) => row.id), { ...EVENTUALLY, timeout: 50_000 }).toEqual([1, 2, 3, 4, 5]);
    // Before, the batch read all five rows at once.
    expect(await rows(alice, `SELECT details FROM ai.vectorizer_errors`)).toEqual([{ details: { step: 'embedding', rows: 4 } }]);
  }, 90_000);

  it('moves a queue row whose key passes 8 kB to the failed queue unread, its error recorded', async () => {
    const { name, direct, alice } = await alicesTable(suite.proxy);
    await alice.query(`CREATE TABLE alice.notes (name text PRIMARY KEY, body text)`);
    await alice.query(`INSERT INTO alice.notes VALUES ('a', 'first note')`);
    await alice.query(`SELECT ai.create_vectorizer('alice.notes'::regclass, loading => ai.loading_column('body'), embedding => ai.embedding_openai('text-embedding-3-small', 4))`);
    const [{ queue }] = await rows(direct, `SELECT format('%I.%I', queue_schema, queue_table) AS queue FROM _pg_llm_catalog.pg_llm_vectorizers`);
    // The queue is the owner's to write, and to drop the index of: then a key of any size, 40 MB.
    const [{ index }] = await rows(direct, `SELECT indexrelid::regclass::text AS index FROM pg_index WHERE indrelid = '${queue}'::regclass`);
    await alice.query(`DROP INDEX ${index}`);
    await alice.query(`INSERT INTO ${queue} (name) VALUES (repeat('k', 40 * 1024 * 1024))`);
    const relay = await TcpRelay.start(cluster().port);
    afterThisTest(() => relay.stop());
    alicesWorker(name, {}, relay.port);
    await expect.poll(pending(alice), EVENTUALLY).toBe('0');
    // Before, the claim read the key whole (and sent it back to read its row), and recorded nothing.
    expect(relay.bytesFromTarget).toBeLessThan(1_000_000);
    expect(await rows(alice, `SELECT name FROM alice.notes_embedding`)).toEqual([{ name: 'a' }]);
    const failedQueue = queue.replace('_vectorizer_q_', '_vectorizer_q_failed_');
    expect(await rows(alice, `SELECT octet_length(name) AS bytes, failure_step FROM ${failedQueue}`)).toEqual([{ bytes: 40 * 1024 * 1024, failure_step: 'loading' }]);
    expect(await rows(alice, `SELECT message, details FROM ai.vectorizer_errors`)).toEqual([
      { message: 'the row is not embedded: its key in the queue is larger than the worker reads (8192 bytes as text)', details: { step: 'loading', rows: 1 } },
    ]);
  }, 60_000);

  it('writes each row\'s embedding into its own column with ai.destination_column, and its own writes queue nothing', async () => {
    const { name, alice } = await alicesTable(suite.proxy);
    await alice.query(`INSERT INTO alice.docs VALUES (1, 'one', 'the purple elephant'), (2, 'two', NULL)`);
    await alice.query(`SELECT ai.create_vectorizer('alice.docs'::regclass, loading => ai.loading_column('body'),
                         embedding => ai.embedding_openai('text-embedding-3-small', 4), destination => ai.destination_column('body_embedding'),
                         chunking => ai.chunking_none(), formatting => ai.formatting_python_template('$title: $chunk'))`);
    expect(await rows(alice, `SELECT name, target_table, view, embedding_column FROM ai.vectorizer_status`)).toEqual([
      { name: 'alice_docs_body_embedding', target_table: null, view: null, embedding_column: 'body_embedding' },
    ]);
    suite.fake.requests.length = 0;
    alicesWorker(name);
    const column = () => rows(alice, `SELECT id, body_embedding FROM alice.docs ORDER BY id`);
    await expect.poll(column, EVENTUALLY).toEqual([
      { id: 1, body_embedding: fakeEmbedding('one: the purple elephant') },
      { id: 2, body_embedding: null },
    ]);
    // The worker's write of the column queued neither row again.
    await expect.poll(pending(alice), EVENTUALLY).toBe('0');
    await alice.query(`UPDATE alice.docs SET body = 'green' WHERE id = 2`);
    await expect.poll(column, EVENTUALLY).toEqual([
      { id: 1, body_embedding: fakeEmbedding('one: the purple elephant') },
      { id: 2, body_embedding: fakeEmbedding('two: green') },
    ]);
    await expect.poll(pending(alice), EVENTUALLY).toBe('0');
    expect(embedded().sort()).toEqual(['one: the purple elephant', 'two: green']);
    await alice.query(`SELECT ai.drop_vectorizer(1, drop_all => true)`);
    expect(await rows(alice, `SELECT count(*)::int AS n FROM alice.docs WHERE body_embedding IS NOT NULL`)).toEqual([{ n: 2 }]);
  });

  it('leaves a disabled vectorizer, and the vectorizers of other owners, alone', async () => {
    const { name, alice } = await alicesVectorizer();
    await alice.query(`SELECT ai.disable_vectorizer_schedule(1)`);
    suite.fake.requests.length = 0;
    alicesWorker(name);
    // The worker of another role serves none of alice's.
    startWorker(name, {}, { env: { OPENAI_API_KEY: KEY, OPENAI_BASE_URL: suite.fake.baseUrl } }, 'postgres');
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(await pending(alice)()).toBe('2');
    expect(embedded()).toEqual([]);
    await alice.query(`SELECT ai.enable_vectorizer_schedule(1)`);
    await expect.poll(pending(alice), EVENTUALLY).toBe('0');
  });
});
