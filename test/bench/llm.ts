// The LLM functions' own costs through the proxy, with the mock provider so that only the proxy is measured:
// how much an intercepted call adds to a round trip, and how soon a streamed chunk reaches the client.

import { performance } from 'node:perf_hooks';
import pg from 'pg';

const CALLS = 300;
/** The mock waits this long before its first chunk: whatever the client waits beyond it is the proxy's. */
const FIRST_CHUNK_MS = 50;
const STREAMS = 20;
export const FIRST_ROW_TARGET_MS = 5;

export interface LlmResult {
  plainMs: number;
  interceptedMs: number;
  firstRowOverheadMs: number;
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
    return { plainMs, interceptedMs, firstRowOverheadMs: firstRows.sort((a, b) => a - b)[Math.floor(firstRows.length / 2)]! };
  } finally {
    await client.end();
  }
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
