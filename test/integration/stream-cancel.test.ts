// A streamed answer cut short is no answer, whatever cut it (a CancelRequest, pg_cancel_backend, the client leaving,
// timeout_ms): the statement fails as PostgreSQL's would, with no final row, no stored session turn and no
// successful audit row, and /metrics counts the request as cancelled. The SDKs end a stream quietly when its request
// is aborted, so each adapter is tried on its own SDK.

import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { processRegistry } from '../../src/metrics.js';
import { afterThisTest } from '../support/database.js';
import { databaseWithModel, proxyAndFakeProvider } from '../support/models.js';
import { connection } from '../support/proxy.js';
import { sendCancel } from '../support/raw-client.js';

const shared = proxyAndFakeProvider();
/** A chunk every 50 ms until the proxy stops reading. */
const ENDLESS = { kind: 'flow', count: Infinity, delayMs: 50 } as const;
const MODEL_NAMES = { openai: 'gpt-test', anthropic: 'claude-test' };
type Adapter = keyof typeof MODEL_NAMES;

async function setup(adapter: Adapter, config: Record<string, unknown> = {}) {
  const anthropic = adapter === 'anthropic' ? { base_url: shared.fake.baseUrl.replace(/\/v1$/, '') } : {};
  const model = await databaseWithModel(shared.proxy, shared.fake, adapter, { model_name: MODEL_NAMES[adapter], max_retries: 0, ...anthropic, ...config });
  shared.fake.script(ENDLESS);
  return model;
}

/** Runs a statement, keeping its rows as they arrive; `outcome` is its error, or its rows once complete. */
function streaming(client: pg.Client, sql: string, values: unknown[] = []) {
  const rows: Array<Record<string, unknown>> = [];
  const query = client.query(new pg.Query(sql, values));
  query.on('row', (row: Record<string, unknown>) => rows.push(row));
  const outcome = new Promise<unknown>((resolve) => {
    query.on('error', resolve);
    query.on('end', () => resolve(rows));
  });
  return { rows, outcome };
}

function cancel(client: pg.Client): Promise<void> {
  const { processID, secretKey } = client as unknown as { processID: number; secretKey: number };
  return sendCancel(shared.proxy.port, processID, secretKey);
}

async function streamRequests(adapter: Adapter, outcome: string): Promise<number> {
  const series = `pg_llm_model_requests_total{provider="${adapter}",model="${MODEL_NAMES[adapter]}",kind="stream",outcome="${outcome}"}`;
  return Number((await processRegistry.metrics()).split('\n').find((line) => line.startsWith(`${series} `))?.split(' ')[1] ?? 0);
}

const CANCELED = { code: '57014', message: 'canceling statement due to user request' };

describe.each(['openai', 'anthropic'] as const)('a %s stream', (adapter) => {
  it('cancelled after a few rows ends with 57014: no final row, no successful audit row, counted as cancelled', async () => {
    const { client, direct } = await setup(adapter);
    const cancelledBefore = await streamRequests(adapter, 'cancelled');
    const { rows, outcome } = streaming(client, `SELECT * FROM pg_llm_chat_stream('llm', 'hi')`);
    await expect.poll(() => rows.length).toBeGreaterThanOrEqual(3);
    await cancel(client);
    expect(await outcome).toMatchObject(CANCELED);
    expect(rows.filter((row) => row.is_final)).toEqual([]);
    expect((await direct.query(`SELECT event_type FROM _pg_llm_catalog.pg_llm_audit_log WHERE success`)).rows).toEqual([]);
    expect(await streamRequests(adapter, 'cancelled')).toBe(cancelledBefore + 1);
    await expect.poll(() => shared.fake.requests[0]!.aborted).toBe(true);
    expect((await client.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
  });

  it('cancelled inside a transaction block leaves it aborted', async () => {
    const { client } = await setup(adapter);
    await client.query('BEGIN');
    const { rows, outcome } = streaming(client, `SELECT chunk, is_final FROM pg_llm_chat_stream('llm', 'hi')`);
    await expect.poll(() => rows.length).toBeGreaterThanOrEqual(3);
    await cancel(client);
    expect(await outcome).toMatchObject(CANCELED);
    await expect(client.query('SELECT 1')).rejects.toMatchObject({ code: '25P02' });
    await client.query('ROLLBACK');
  });

  it('a turn of a session cancelled by pg_cancel_backend is not stored', async () => {
    const { client, name } = await setup(adapter);
    const other = new pg.Client(connection(shared.proxy.port, 'postgres', name));
    await other.connect();
    afterThisTest(() => other.end());
    const session = (await other.query(`SELECT pg_llm_create_session() AS s`)).rows[0].s as string;
    const { rows, outcome } = streaming(client, `SELECT * FROM pg_llm_multi_turn_chat_stream('llm', $1, 'tell me')`, [session]);
    await expect.poll(() => rows.length).toBeGreaterThanOrEqual(3);
    const { processID } = client as unknown as { processID: number };
    expect((await other.query(`SELECT pg_cancel_backend(${processID}) AS cancelled`)).rows).toEqual([{ cancelled: true }]);
    expect(await outcome).toMatchObject(CANCELED);
    expect((await other.query(`SELECT role, content FROM pg_llm_get_session_messages($1)`, [session])).rows).toEqual([]);
  });

  it('whose client leaves mid-stream is counted as cancelled, and audited as no success', async () => {
    const { name, direct } = await setup(adapter);
    const leaving = new pg.Client(connection(shared.proxy.port, 'postgres', name));
    await leaving.connect();
    leaving.on('error', () => {});
    const cancelledBefore = await streamRequests(adapter, 'cancelled');
    const { rows } = streaming(leaving, `SELECT * FROM pg_llm_chat_stream('llm', 'hi')`);
    await expect.poll(() => rows.length).toBeGreaterThanOrEqual(3);
    (leaving as unknown as { connection: { stream: { destroy(): void } } }).connection.stream.destroy();
    await expect.poll(() => streamRequests(adapter, 'cancelled')).toBe(cancelledBefore + 1);
    expect((await direct.query(`SELECT event_type FROM _pg_llm_catalog.pg_llm_audit_log WHERE success`)).rows).toEqual([]);
  });

  it('that outlives timeout_ms ends with 39001 and no final row', async () => {
    const { client } = await setup(adapter, { timeout_ms: 1000 });
    const { rows, outcome } = streaming(client, `SELECT * FROM pg_llm_chat_stream('llm', 'hi')`);
    expect(await outcome).toMatchObject({ code: '39001', hint: expect.stringContaining('Raise timeout_ms') });
    expect(rows.length).toBeGreaterThan(0);
    expect(rows.filter((row) => row.is_final)).toEqual([]);
  });
});
