// The vectorizer's throughput: 1,000 rows of four paragraphs each inserted at once into a table with a pgai
// vectorizer (four chunks a row), embedded by the proxy's worker through the real OpenAI SDK against a fake server
// on loopback whose every answer takes 50 ms, timed from the commit to the last chunk stored: once with pgai's
// default processing (50 rows a batch, one batch at a time), once with processing_default's concurrency at
// HIGHER_CONCURRENCY. The reference is the provider's time alone for the requests the worker must make: one a batch
// of rows, the batches in waves of the concurrency, as pgai's worker runs them.

import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import type { FakeProvider } from '../support/fake-provider.js';
import { WORKER_DATABASE } from './worker.js';

export const VECTORIZER_ROWS = 1000;
export const CHUNKS_PER_ROW = 4;
export const EMBEDDING_CALL_MS = 50;
/** pgai's processing_default batch_size. */
const BATCH_ROWS = 50;
/** processing_default's concurrency in the second run (pgai's default is 1). */
export const HIGHER_CONCURRENCY = 4;
const CONVERGE_TIMEOUT_MS = 120_000;

export interface VectorizerResult {
  /** processing_default's concurrency, undefined for pgai's default. */
  concurrency: number | undefined;
  convergeMs: number;
  /** Embedding requests the fake provider answered. */
  requests: number;
  /** Chunks sent to be embedded, and how many of them were distinct: each is embedded once if the two agree. */
  embedded: number;
  distinct: number;
}

/** The environment the benchmark's proxy needs for its worker to reach the fake provider. */
export function vectorizerEnvironment(provider: FakeProvider): NodeJS.ProcessEnv {
  return { OPENAI_API_KEY: 'sk-bench-vectorizer', OPENAI_BASE_URL: provider.baseUrl };
}

/**
 * Installs ai through the proxy, makes a vectorizer of `concurrency` (pgai's default when undefined) over a table of
 * its own, inserts the rows in one statement and waits for the store.
 */
export async function measureVectorizer(proxyPort: number, provider: FakeProvider, concurrency?: number): Promise<VectorizerResult> {
  const client = new pg.Client({ host: '127.0.0.1', port: proxyPort, user: 'postgres', database: WORKER_DATABASE });
  await client.connect();
  const table = `articles_${concurrency ?? 'default'}`;
  try {
    await client.query('CREATE EXTENSION IF NOT EXISTS ai');
    await client.query(`CREATE TABLE ${table} (id int PRIMARY KEY, body text NOT NULL)`);
    const { rows: created } = await client.query(`SELECT ai.create_vectorizer('${table}'::regclass,
                          loading => ai.loading_column('body'),
                          embedding => ai.embedding_openai('text-embedding-3-small', 16),
                          chunking => ai.chunking_character_text_splitter(128, 0, E'\\n\\n'),
                          processing => ai.processing_default(batch_size => ${BATCH_ROWS}, concurrency => ${concurrency ?? 'NULL'})) AS id`);
    provider.requests.length = 0;
    const paragraphs = Array.from({ length: CHUNKS_PER_ROW }, (_, k) => `'paragraph ${k + 1} of article ' || g || ', long enough to be a chunk of its own but shorter than the chunk size'`);
    await client.query(`INSERT INTO ${table} SELECT g, ${paragraphs.join(` || E'\\n\\n' || `)} FROM generate_series(1, ${VECTORIZER_ROWS}) g`);
    const committed = performance.now();
    const wanted = VECTORIZER_ROWS * CHUNKS_PER_ROW;
    for (;;) {
      const { rows } = await client.query(`SELECT ai.vectorizer_queue_pending($1, exact_count => true) AS pending, (SELECT count(*) FROM ${table}_embedding_store)::int AS stored`, [created[0].id]);
      if (Number(rows[0].pending) === 0 && rows[0].stored === wanted) break;
      if (performance.now() - committed > CONVERGE_TIMEOUT_MS) throw new Error(`the vectorizer stored ${rows[0].stored} of ${wanted} chunks after ${CONVERGE_TIMEOUT_MS / 1000} s`);
      await sleep(10);
    }
    const convergeMs = performance.now() - committed;
    const inputs = provider.requests.filter((request) => request.path.endsWith('/embeddings')).flatMap((request) => ([] as string[]).concat(request.body.input as string[]));
    return { concurrency, convergeMs, requests: provider.requests.length, embedded: inputs.length, distinct: new Set(inputs).size };
  } finally {
    await client.end();
  }
}

/** The provider's time alone for one request a batch of rows, the batches in waves of the concurrency. */
export function vectorizerIdealMs(concurrency = 1): number {
  return Math.ceil(VECTORIZER_ROWS / BATCH_ROWS / concurrency) * EMBEDDING_CALL_MS;
}
