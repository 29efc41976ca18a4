// Review (issue 12): row data never reaches the proxy's log. The workers logged a refused vectorizer row's key values,
// and the message of a failed llm.call job or vectorizer batch, which PostgreSQL words with the value it could not
// take (an answer that is not an integer, a trigger's RAISE of a chunk). Their log lines now name the job or
// vectorizer, its table and the SQLSTATE; the message stays where the table's owner reads it (llm.queue.last_error,
// ai.vectorizer_errors).

import type pg from 'pg';
import type { Logger } from 'pino';
import { describe, expect, it } from 'vitest';
import { capturedProviderLog } from '../support/captured-log.js';
import { pgAiSuite } from '../support/pg-ai.js';
import { alicesTable } from '../support/vectorizer.js';
import { docsDatabase, startWorker } from '../support/worker.js';

const suite = pgAiSuite();
const EVENTUALLY = { timeout: 20_000, interval: 100 };
const KEY = 'sk-worker-log-0123456789';
/** Row data the log must not hold. */
const SECRET = 'row-value-7f3a9c';

const rows = async (client: pg.Client, sql: string) => (await client.query(sql)).rows;

/** The first line logged with the message `msg`, parsed. */
const logged = (lines: string[], msg: string) => lines.map((line) => JSON.parse(line)).find((line) => line.msg === msg);

/** alice's vectorizer over alice.notes, keyed by a text, and a worker for it logging to `log`, to start. */
async function alicesVectorizer(log: Logger, processing = 'ai.processing_default()') {
  const { name, direct, alice } = await alicesTable(suite.proxy);
  await alice.query(`CREATE TABLE alice.notes (code text PRIMARY KEY, body text)`);
  await alice.query(`SELECT ai.create_vectorizer('alice.notes'::regclass, loading => ai.loading_column('body'),
                       embedding => ai.embedding_openai('text-embedding-3-small', 4), chunking => ai.chunking_none(),
                       processing => ${processing})`);
  const start = () => startWorker(name, {}, { env: { OPENAI_API_KEY: KEY, OPENAI_BASE_URL: suite.fake.baseUrl } }, 'trust_user', undefined, log);
  return { direct, alice, start };
}

/** A trigger of alice's that refuses every chunk stored, quoting it, as a check of the data might. */
async function refusingStore(alice: pg.Client): Promise<void> {
  await alice.query(`CREATE FUNCTION alice.no_chunks() RETURNS trigger LANGUAGE plpgsql AS $$
                       BEGIN RAISE EXCEPTION 'chunk % refused', NEW.chunk; END $$`);
  await alice.query(`CREATE TRIGGER no_chunks BEFORE INSERT ON alice.notes_embedding_store FOR EACH ROW EXECUTE FUNCTION alice.no_chunks()`);
}

describe("the workers' log", () => {
  it("names a refused vectorizer row's vectorizer and table, not its key", async () => {
    const { log, lines } = capturedProviderLog();
    const { direct, alice, start } = await alicesVectorizer(log);
    await alice.query(`INSERT INTO alice.notes VALUES ($1, repeat('x', 2 * 1024 * 1024 + 1))`, [SECRET]);
    start();
    await expect.poll(() => rows(direct, `SELECT code, failure_step FROM alice._vectorizer_q_failed_1`), EVENTUALLY).toEqual([{ code: SECRET, failure_step: 'chunking' }]);
    expect(logged(lines, 'vectorizer row refused; moved to the failed queue, its reason in ai.vectorizer_errors')).toMatchObject({ level: 40, vectorizer_id: 1, table: 'alice.notes', step: 'chunking', sqlstate: '54000' });
    expect(lines.join('')).not.toContain(SECRET);
  });

  it('holds no value of a vectorizer batch whose chunks the store refuses', async () => {
    const { log, lines } = capturedProviderLog();
    const { alice, start } = await alicesVectorizer(log);
    await refusingStore(alice);
    await alice.query(`INSERT INTO alice.notes VALUES ('a', $1)`, [SECRET]);
    start();
    await expect.poll(() => rows(alice, `SELECT message FROM ai.vectorizer_errors`), EVENTUALLY).toContainEqual({ message: `chunk ${SECRET} refused` });
    await expect.poll(() => logged(lines, 'vectorizer batch failed; its rows are retried later, its error in ai.vectorizer_errors'), EVENTUALLY).toMatchObject({ level: 40, vectorizer_id: 1, table: 'alice.notes', sqlstate: 'P0001' });
    expect(lines.join('')).not.toContain(SECRET);
  });

  it('holds no value of a provider batch of vectorizer rows whose chunks the store refuses', async () => {
    const { log, lines } = capturedProviderLog();
    const { alice, start } = await alicesVectorizer(log, `ai.processing_default() || '{"batch_api": true}'`);
    await refusingStore(alice);
    const before = suite.fake.batches.all.length;
    await alice.query(`INSERT INTO alice.notes VALUES ('a', $1)`, [SECRET]);
    start();
    await expect.poll(() => suite.fake.batches.all.length, EVENTUALLY).toBeGreaterThan(before);
    suite.fake.batches.end(suite.fake.batches.all[before]!);
    await expect.poll(() => logged(lines, 'vectorizer rows of a batch not embedded; they are retried later, their error in ai.vectorizer_errors'), EVENTUALLY).toMatchObject({ level: 40, vectorizer_id: 1, table: 'alice.notes', sqlstate: 'P0001' });
    expect(lines.join('')).not.toContain(SECRET);
  });

  it("holds no prompt, answer or row value of an llm.call job whose answer the table refuses", async () => {
    const { log, lines } = capturedProviderLog();
    // The answer echoes the prompt, which holds the row's body: not an integer.
    const { name, client } = await docsDatabase({ mock_mode: 'echo' }, `'Rate: {body}', 'summary', 'model=m', 'max_attempts=1'`);
    await client.query(`ALTER TABLE docs ALTER COLUMN summary TYPE int USING NULL`);
    startWorker(name, {}, { env: {} }, 'postgres', undefined, log);
    await client.query(`INSERT INTO docs VALUES (1, $1, NULL)`, [SECRET]);
    await expect.poll(() => rows(client, `SELECT status, last_error FROM llm.queue`), EVENTUALLY).toEqual([{ status: 'error', last_error: expect.stringContaining(SECRET) }]);
    expect(logged(lines, 'llm.call job failed; its error is in llm.queue.last_error')).toMatchObject({ level: 40, table: 'public.docs', sqlstate: '22P02' });
    expect(lines.join('')).not.toContain(SECRET);
  });
});
