// /metrics stays bounded whatever the roles name their models: a model label takes at most --metrics-max-models
// names (50 by default), the rest count under model="other", and every label value is cut short and escaped.

import { describe, expect, it } from 'vitest';
import { testAdminOfFile } from '../support/admin.js';
import { databaseWithModel, proxyAndFakeProvider } from '../support/models.js';

const shared = proxyAndFakeProvider();
const admin = testAdminOfFile(() => shared.proxy);

const metrics = async (): Promise<string[]> => (await (await fetch(`${admin.base}/metrics`)).text()).split('\n');

describe('/metrics label sets', () => {
  it('a model name is cut short and escaped in its label', async () => {
    const { client } = await databaseWithModel(shared.proxy, shared.fake, 'mock');
    const name = `evil"} 1\nfake_series{a="${'x'.repeat(500)}`;
    await client.query(`SELECT pg_llm_add_model(true, 'mock', 'evil', NULL, $1)`, [JSON.stringify({ model_name: name })]);
    await client.query(`SELECT pg_llm_chat('evil', 'hi')`);
    const lines = (await metrics()).filter((line) => line.includes('model="evil'));
    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines) {
      expect(line).toMatch(/^pg_llm_(model_\w+\{(le="[^"]+",)?provider="mock"|spend_\w+\{role="postgres",database="t_\w+"),model="evil\\"} 1\\nfake_series\{a=\\"x{70,80}"[,}]/);
    }
    expect((await metrics()).some((line) => line.startsWith('fake_series'))).toBe(false);
  });

  it('300 model names make at most 50 model labels; the others count under model="other"', async () => {
    const { client } = await databaseWithModel(shared.proxy, shared.fake, 'mock');
    for (let i = 0; i < 300; i++) {
      await client.query(`SELECT pg_llm_add_model(true, 'mock', 'llm', NULL, $1)`, [JSON.stringify({ model_name: `model-${i}` })]);
      await client.query(`SELECT pg_llm_chat('llm', 'hi')`);
    }
    const lines = await metrics();
    const labels = new Set(lines.flatMap((line) => /model="((?:[^"\\]|\\.)*)"/.exec(line)?.[1] ?? []));
    expect(labels.size).toBeLessThanOrEqual(51);
    expect(labels).toContain('other');
    const others = lines.find((line) => line.startsWith('pg_llm_model_requests_total{provider="mock",model="other",kind="chat",outcome="ok"}'));
    expect(Number(others?.split(' ').at(-1))).toBeGreaterThanOrEqual(250);
    expect(lines.filter((line) => line.startsWith('pg_llm_model_')).length).toBeLessThan(51 * 20);
    // 600 statements: a loaded host takes longer than the default 30 s.
  }, 120_000);
});
