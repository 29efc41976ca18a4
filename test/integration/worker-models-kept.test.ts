// Review (issue 12): the llm.call worker keeps the models its jobs name, each with its provider (SDK client, key
// material), for a few seconds so that a wave of jobs reads the catalog once. It kept every model ever named, and
// each such provider outlived the providers' own bounded cache. What it keeps is now bounded, and a model kept past
// its time is let go. Whether a provider is still held is read from a WeakRef after a full collection.

import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { migrate } from '../../src/catalog/migrate.js';
import { masterKey } from '../../src/crypto/secrets.js';
import { DefaultProviders } from '../../src/providers/default-provider.js';
import { MAX_BUILT, providerFor } from '../../src/providers/index.js';
import { JobModels } from '../../src/worker/job.js';
import { afterThisTest, freshDatabase } from '../support/database.js';
import { collectGarbage } from '../support/held-memory.js';
import { cluster, connection } from '../support/proxy.js';

const KEYS = [masterKey('test master key')];
/** JobModels' MODEL_TTL_MS, and a margin. */
const MODEL_LIFETIME_MS = 5000 + 200;

/** The worker's models of a fresh database where mock model instances `${prefix}0` … are registered. */
async function registered(prefix: string, count: number): Promise<JobModels> {
  const { name, client } = await freshDatabase();
  await migrate(client);
  await client.query(
    `INSERT INTO _pg_llm_catalog.pg_llm_models (instance_name, model_type, config)
     SELECT $1 || g, 'mock', '{"mock_response": "x"}' FROM generate_series(0, $2 - 1) g`,
    [prefix, count],
  );
  const pool = new pg.Pool({ ...connection(cluster().port, 'postgres', name), max: 2 });
  afterThisTest(() => pool.end());
  return new JobModels(pool, KEYS, new DefaultProviders({ masterKeys: KEYS, env: {} }));
}

/** How many of the providers are still held by anything, after a full collection. */
async function stillHeld(providers: Array<WeakRef<object>>): Promise<number> {
  // A WeakRef's target is kept until the task that made or read it ends.
  await new Promise((resolve) => setImmediate(resolve));
  collectGarbage();
  return providers.filter((provider) => provider.deref() !== undefined).length;
}

describe("the llm.call worker's models", () => {
  it('are kept no more than the providers are, however many models the jobs name', { timeout: 120_000 }, async () => {
    const count = 2 * MAX_BUILT + 100;
    const models = await registered('many-', count);
    const providers: Array<WeakRef<object>> = [];
    for (let i = 0; i < count; i++) providers.push(new WeakRef((await models.model(`many-${i}`)).provider));
    // The providers' cache keeps those built last; the worker must keep none beyond them.
    expect(await stillHeld(providers)).toBeLessThanOrEqual(MAX_BUILT);
  });

  it('are let go once read longer ago than a model is kept', { timeout: 60_000 }, async () => {
    const models = await registered('early-', 11);
    const early: Array<WeakRef<object>> = [];
    for (let i = 0; i < 10; i++) early.push(new WeakRef((await models.model(`early-${i}`)).provider));
    await new Promise((resolve) => setTimeout(resolve, MODEL_LIFETIME_MS));
    // A job naming another model after that: the early ones, never named again, are done with.
    await models.model('early-10');
    // Others' providers push the early ones out of the providers' cache: only the worker could still hold them.
    for (let i = 0; i < MAX_BUILT; i++) providerFor(`filler-${i}`, { provider: 'mock' });
    expect(await stillHeld(early)).toBe(0);
  });
});
