// Confidence routing and parallel chat as pg_llm documents them, with mock models of known confidence, through the
// proxy; the trace of each decision and the settings that govern audit and trace.

import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { afterThisTest, freshDatabase } from '../support/database.js';
import { connection, startProxy, type TestProxy } from '../support/proxy.js';

let proxy: TestProxy;
beforeAll(async () => {
  proxy = await startProxy();
});
afterAll(() => proxy.stop());

const MODELS: Record<string, Record<string, unknown>> = {
  sure: { mock_response: 'sure answer', mock_confidence: 0.9 },
  unsure: { mock_response: 'unsure answer', mock_confidence: 0.3, fallback_instance: 'local' },
  lenient: { mock_response: 'lenient answer', mock_confidence: 0.3, confidence_threshold: 0.2 },
  local: { mock_response: 'local answer', mock_confidence: 0.5, is_local_fallback: true },
};

async function setup(through: TestProxy = proxy) {
  const { name, client: direct } = await freshDatabase();
  const client = new pg.Client(connection(through.port, 'postgres', name));
  await client.connect();
  afterThisTest(() => client.end());
  await client.query('CREATE EXTENSION pg_llm');
  for (const [instance, config] of Object.entries(MODELS)) {
    await client.query(`SELECT pg_llm_add_model(false, 'mock', $1, NULL, $2)`, [instance, JSON.stringify(config)]);
  }
  const one = async (sql: string, values: unknown[] = []) => Object.values((await client.query(sql, values)).rows[0]!)[0] as any;
  return { client, direct, one };
}

describe('confidence routing', () => {
  it('below the threshold, the model\'s fallback_instance answers; above it, the model itself', async () => {
    const { one } = await setup();
    expect(await one(`SELECT pg_llm_chat('sure', 'q')`)).toBe('sure answer');
    expect(await one(`SELECT pg_llm_chat('unsure', 'q')`)).toBe('local answer');
    expect(await one(`SELECT pg_llm_chat_json('unsure', 'q')`)).toMatchObject({
      response: 'local answer',
      instance_name: 'local',
      fallback_used: true,
      confidence_threshold: 0.6,
    });
  });

  it('the threshold is the options\', else the model\'s, else pg_llm.default_confidence_threshold', async () => {
    const { client, one } = await setup();
    expect(await one(`SELECT pg_llm_chat_json('lenient', 'q')`)).toMatchObject({ response: 'lenient answer', fallback_used: false, confidence_threshold: 0.2 });
    expect(await one(`SELECT pg_llm_chat_json('unsure', 'q', '{"confidence_threshold": 0.1}')`)).toMatchObject({ response: 'unsure answer', fallback_used: false });
    await client.query(`SET pg_llm.default_confidence_threshold = 0.95`);
    expect(await one(`SELECT pg_llm_chat_json('sure', 'q')`)).toMatchObject({ response: 'sure answer', fallback_used: false, confidence_threshold: 0.95 });
    await client.query(`SET pg_llm.default_local_fallback = 'local'`);
    expect(await one(`SELECT pg_llm_chat_json('sure', 'q')`)).toMatchObject({ response: 'local answer', instance_name: 'local', fallback_used: true });
    await client.query(`SET pg_llm.default_confidence_threshold = 'high'`);
    await expect(client.query(`SELECT pg_llm_chat('sure', 'q')`)).rejects.toMatchObject({ code: '22023', message: expect.stringContaining('pg_llm.default_confidence_threshold') });
  });
});

describe('server-wide defaults (--settings)', () => {
  it('apply where PostgreSQL has no value; a session\'s SET (or ALTER ROLE … SET) wins', async () => {
    const configured = await startProxy({ settings: { default_confidence_threshold: '0.95', default_local_fallback: 'local', trace_enabled: 'on' } });
    afterThisTest(() => configured.stop());
    const { client, direct, one } = await setup(configured);
    const answer = await one(`SELECT pg_llm_chat_json('sure', 'q')`);
    expect(answer).toMatchObject({ response: 'local answer', fallback_used: true, confidence_threshold: 0.95 });
    expect((await direct.query(`SELECT count(*)::int AS n FROM _pg_llm_catalog.pg_llm_trace_log WHERE request_id = $1`, [answer.request_id])).rows[0].n).toBe(1);
    await client.query(`SET pg_llm.default_confidence_threshold = 0.5`);
    expect(await one(`SELECT pg_llm_chat_json('sure', 'q')`)).toMatchObject({ response: 'sure answer', fallback_used: false });
  });
});

describe('parallel chat', () => {
  it('the most confident candidate wins; without names, every model that is not only a local fallback is asked', async () => {
    const { one } = await setup();
    expect(await one(`SELECT pg_llm_parallel_chat('q', ARRAY['unsure', 'sure'])`)).toBe('sure answer');
    const answer = await one(`SELECT pg_llm_parallel_chat_json('q')`);
    expect(answer).toMatchObject({ response: 'sure answer', instance_name: 'sure', fallback_used: false });
    expect(answer.candidates.map((candidate: { instance_name: string }) => candidate.instance_name)).toEqual(['lenient', 'sure', 'unsure']);
  });

  it('routing applies to the winner: a low-confidence winner goes to its fallback', async () => {
    const { one } = await setup();
    expect(await one(`SELECT pg_llm_parallel_chat_json('q', ARRAY['unsure'])`)).toMatchObject({ response: 'local answer', fallback_used: true });
  });

  it('a failing provider is left out unless all fail; an unknown model fails the call', async () => {
    const { client, one } = await setup();
    await client.query(`SELECT pg_llm_add_model(false, 'mock', 'broken', NULL, '{"mock_error": "down"}')`);
    const answer = await one(`SELECT pg_llm_parallel_chat_json('q', ARRAY['broken', 'lenient'])`);
    expect(answer).toMatchObject({ response: 'lenient answer' });
    expect(answer.candidates[0]).toEqual({ instance_name: 'broken', error: 'mock provider failed: down' });
    await expect(client.query(`SELECT pg_llm_parallel_chat('q', ARRAY['broken'])`)).rejects.toMatchObject({ code: '39001' });
    await expect(client.query(`SELECT pg_llm_parallel_chat('q', ARRAY['sure', 'nobody'])`)).rejects.toMatchObject({ code: '42704' });
  });

  it('asks at most 16 candidates: more are refused before any is asked', async () => {
    const { client, one } = await setup();
    const names = (count: number) => Array.from({ length: count }, (_, i) => (i === 0 ? 'sure' : `nobody${i}`));
    await expect(client.query(`SELECT pg_llm_parallel_chat('q', $1)`, [names(17)])).rejects.toMatchObject({
      code: '54000',
      message: 'parallel chat asks at most 16 models, not 17',
      hint: 'Name at most 16 models in model_names.',
    });
    await expect(client.query(`SELECT pg_llm_parallel_chat('q', $1)`, [names(16)])).rejects.toMatchObject({ code: '42704' });
    expect(await one(`SELECT pg_llm_parallel_chat('q', $1)`, [[...Array(20).fill('unsure'), 'sure']])).toBe('sure answer');
  });
});

describe('trace and audit settings', () => {
  it('pg_llm.trace_enabled records the candidates and the routing decision under the request id', async () => {
    const { client, direct, one } = await setup();
    const untraced = await one(`SELECT pg_llm_parallel_chat_json('q', ARRAY['sure', 'unsure'])`);
    expect((await direct.query(`SELECT count(*)::int AS n FROM _pg_llm_catalog.pg_llm_trace_log`)).rows[0].n).toBe(0);
    await client.query(`SET pg_llm.trace_enabled = on`);
    const traced = await one(`SELECT pg_llm_parallel_chat_json('q', ARRAY['sure', 'unsure'])`);
    const steps = await direct.query(`SELECT step, detail FROM _pg_llm_catalog.pg_llm_trace_log WHERE request_id = $1 ORDER BY id`, [traced.request_id]);
    expect(steps.rows.map((row) => row.step)).toEqual(['candidates', 'routing']);
    expect(steps.rows[0].detail).toMatchObject({ chosen: 'sure', candidates: [{ instance_name: 'sure', confidence_score: 0.9 }, { instance_name: 'unsure', confidence_score: 0.3 }] });
    expect(steps.rows[1].detail).toMatchObject({ instance_name: 'sure', threshold: 0.6, decision: 'accepted' });
    expect(untraced.request_id).not.toBe(traced.request_id);
  });

  it('pg_llm.audit_sample_rate keeps that share of audit rows; pg_llm.audit_enabled = off none', async () => {
    const { client, direct } = await setup();
    const count = async () => (await direct.query(`SELECT count(*)::int AS n FROM _pg_llm_catalog.pg_llm_audit_log`)).rows[0].n as number;
    const before = await count();
    await client.query(`SET pg_llm.audit_sample_rate = 0`);
    await client.query(`SELECT pg_llm_chat('sure', 'q' || i) FROM generate_series(1, 20) AS i`);
    expect(await count()).toBe(before);
    await client.query(`SET pg_llm.audit_sample_rate = 1`);
    await client.query(`SELECT pg_llm_chat('sure', 'q' || i) FROM generate_series(1, 20) AS i`);
    expect(await count()).toBe(before + 20);
    await client.query(`SET pg_llm.audit_enabled = off`);
    await client.query(`SELECT pg_llm_chat('sure', 'r' || i) FROM generate_series(1, 5) AS i`);
    expect(await count()).toBe(before + 20);
    await client.query(`SET pg_llm.audit_sample_rate = 2`);
    await expect(client.query(`SELECT pg_llm_chat('sure', 'q')`)).rejects.toMatchObject({ code: '22023', hint: 'It must be a number from 0 to 1.' });
  });
});
