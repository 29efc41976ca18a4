// Review29: whatever a provider says is masked of the model's secrets before it reaches a row, as a single request's
// answer and error are (redacted.ts): the answers and errors of a batch too, which the worker writes into the
// table's rows and llm.queue.last_error. A fake provider on loopback whose batch echoes the key
// (test keys are 24 characters, a fragment's length: a longer key is masked without its ends too).

import { describe, expect, it } from 'vitest';
import type pg from 'pg';
import { API_KEY, databaseWithModel, proxyAndFakeProvider } from '../support/models.js';
import type { FakeBatch } from '../support/fake-batches.js';
import { startWorker } from '../support/worker.js';

const EVENTUALLY = { timeout: 15_000 };
const shared = proxyAndFakeProvider();
const echoed = API_KEY;

async function rows(client: pg.Client, sql: string): Promise<Array<Record<string, unknown>>> {
  return (await client.query(sql)).rows;
}

async function nextBatch(before: number): Promise<FakeBatch> {
  await expect.poll(() => shared.fake.batches.all.length, EVENTUALLY).toBe(before + 1);
  return shared.fake.batches.all[before]!;
}

describe("a batch's answers and errors", () => {
  it.each(['openai', 'anthropic'])("reach neither the row nor last_error with the %s model's key in them", async (provider) => {
    const before = shared.fake.batches.all.length;
    // Anthropic's SDK puts /v1 in its paths itself.
    const anthropic = { base_url: shared.fake.baseUrl.replace(/\/v1$/, ''), model_name: 'claude-test' };
    const { name, client } = await databaseWithModel(shared.proxy, shared.fake, provider, { batch: true, ...(provider === 'anthropic' ? anthropic : {}) });
    await client.query(`CREATE TABLE docs (id int PRIMARY KEY, body text, summary text)`);
    await client.query(`CREATE TRIGGER enrich AFTER INSERT ON docs FOR EACH ROW EXECUTE FUNCTION llm.call('Say: {body}', 'summary', 'model=llm', 'max_attempts=1')`);
    startWorker(name, {});
    await client.query(`INSERT INTO docs (id, body) VALUES (1, 'answer'), (2, 'error')`);
    const batch = await nextBatch(before);
    shared.fake.batches.end(batch, (prompt) => (prompt.includes('error') ? new Error(`Incorrect API key provided: ${echoed}`) : `the key is ${echoed}`));
    await expect.poll(() => rows(client, `SELECT status FROM llm.queue ORDER BY id`), EVENTUALLY).toEqual([{ status: 'done' }, { status: 'error' }]);
    const written = JSON.stringify(await rows(client, `SELECT summary AS said FROM docs UNION ALL SELECT last_error FROM llm.queue`));
    expect(written).not.toContain(echoed.slice(0, 8));
    expect(written).toContain('****');
  });
});
