// The LLM functions' own costs through the proxy, with the mock provider so that only the proxy is measured:
// how much an intercepted call adds to a round trip, how soon a streamed chunk reaches the client, and how per-row
// calls over a table compare with the one-call-at-a-time of the in-database extensions.

import { performance } from 'node:perf_hooks';
import pg from 'pg';

const CALLS = 300;
/** The mock waits this long before its first chunk: whatever the client waits beyond it is the proxy's. */
const FIRST_CHUNK_MS = 50;
const STREAMS = 20;
export const FIRST_ROW_TARGET_MS = 5;

/** Per-row calls over a table: rows, the model's latency per call, and the proxy's --call-concurrency. */
export const TABLE_ROWS = 1000;
export const ROW_CALL_MS = 50;
export const CALL_CONCURRENCY = 64;
/** Within this factor of the ideal (calls in waves of CALL_CONCURRENCY, each wave one model latency). */
export const TABLE_TARGET_FACTOR = 1.5;

export interface LlmResult {
  plainMs: number;
  interceptedMs: number;
  firstRowOverheadMs: number;
  projectionMs: number;
  updateMs: number;
}

export async function measureLlm(port: number): Promise<LlmResult> {
  const client = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres' });
  await client.connect();
  try {
    await client.query('CREATE EXTENSION IF NOT EXISTS pg_llm');
    await client.query(`SELECT pg_llm_add_model(false, 'mock', 'bench_instant', NULL, '{"mock_response": "ok"}')`);
    await client.query(
      `SELECT pg_llm_add_model(false, 'mock', 'bench_stream', NULL, '{"mock_chunks": ["a", "b"], "mock_latency_ms": ${FIRST_CHUNK_MS}}')`,
    );
    await client.query('SET pg_llm.audit_enabled = off');
    const plainMs = await meanMs(CALLS, () => client.query('SELECT 1'));
    const interceptedMs = await meanMs(CALLS, () => client.query(`SELECT pg_llm_chat('bench_instant', 'x')`));
    const firstRows: number[] = [];
    for (let i = 0; i < STREAMS; i++) firstRows.push((await firstRowMs(client, `SELECT * FROM pg_llm_chat_stream('bench_stream', 'x')`)) - FIRST_CHUNK_MS);
    const firstRowOverheadMs = firstRows.sort((a, b) => a - b)[Math.floor(firstRows.length / 2)]!;
    await client.query(`SELECT pg_llm_add_model(false, 'mock', 'bench_slow', NULL, '{"mock_mode": "md5", "mock_latency_ms": ${ROW_CALL_MS}}')`);
    await client.query(`DROP TABLE IF EXISTS bench_docs; CREATE TABLE bench_docs (id int PRIMARY KEY, body text, summary text)`);
    await client.query(`INSERT INTO bench_docs SELECT g, 'document ' || g, NULL FROM generate_series(1, ${TABLE_ROWS}) g`);
    const projectionMs = await timeMs(() => client.query(`SELECT id, pg_llm_chat('bench_slow', body) AS summary FROM bench_docs ORDER BY id`));
    const updateMs = await timeMs(() => client.query(`UPDATE bench_docs SET summary = pg_llm_chat('bench_slow', body)`));
    const { rows } = await client.query(`SELECT count(*)::int AS n FROM bench_docs WHERE summary = md5(body)`);
    if (rows[0].n !== TABLE_ROWS) throw new Error(`the UPDATE wrote ${rows[0].n} of ${TABLE_ROWS} summaries`);
    await client.query('DROP TABLE bench_docs');
    return { plainMs, interceptedMs, firstRowOverheadMs, projectionMs, updateMs };
  } finally {
    await client.end();
  }
}

/** The serial time of the in-database extensions, and the best a concurrency limit allows. */
export function tableReference(): { serialMs: number; idealMs: number } {
  return { serialMs: TABLE_ROWS * ROW_CALL_MS, idealMs: Math.ceil(TABLE_ROWS / CALL_CONCURRENCY) * ROW_CALL_MS };
}

async function timeMs(run: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await run();
  return performance.now() - started;
}

async function meanMs(count: number, run: () => Promise<unknown>): Promise<number> {
  for (let i = 0; i < count / 10; i++) await run();
  const started = performance.now();
  for (let i = 0; i < count; i++) await run();
  return (performance.now() - started) / count;
}

/** Milliseconds from sending the query to its first row. */
function firstRowMs(client: pg.Client, sql: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    let first: number | undefined;
    const query = client.query(new pg.Query(sql));
    query.on('row', () => (first ??= performance.now() - started));
    query.on('end', () => resolve(first ?? Number.NaN));
    query.on('error', reject);
  });
}
