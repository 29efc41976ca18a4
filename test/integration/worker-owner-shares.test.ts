// Each table owner's llm.call jobs are asked of the models as that owner (the asker of its sessions and vectorizers),
// so one owner whose model never answers holds only its own share of the proxy's model-call slots, and another
// owner's jobs are answered meanwhile (review 20: every worker's jobs were one asker's, sharing one quarter of the
// slots, so they waited behind the hung calls for their timeout_ms, up to an hour, times their retries). Two ordinary
// roles on one database, each owning a table enriched by llm.call and served by a worker of its own, as
// docs/llm-call.md deploys them; alice's model on the fake provider, mallory's on a server of mallory's that holds
// every request.

import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { setProcessCallLimit } from '../../src/providers/limits.js';
import { WORKER_PRIVILEGES } from '../../src/worker/queue.js';
import { afterThisTest, freshDatabase } from '../support/database.js';
import { startFakeProvider, type FakeProvider } from '../support/fake-provider.js';
import { proxyAndFakeProvider } from '../support/models.js';
import { connection, type Role } from '../support/proxy.js';
import { startWorker } from '../support/worker.js';

const shared = proxyAndFakeProvider();
let mallorysServer: FakeProvider;
let letGo: () => void;
beforeEach(async () => {
  mallorysServer = await startFakeProvider();
  // Eight slots: two (a quarter) for each asker.
  setProcessCallLimit(8);
});
afterEach(async () => {
  letGo?.();
  setProcessCallLimit(256);
  await mallorysServer.close();
});

async function through(role: Role, database: string): Promise<pg.Client> {
  const client = new pg.Client(connection(shared.proxy.port, role, database));
  await client.connect();
  afterThisTest(() => client.end());
  return client;
}

describe("llm.call jobs of two table owners", () => {
  it("of one owner whose model hangs leave the other owner's jobs their own share of the model-call slots", async () => {
    const { name, client: direct } = await freshDatabase();
    await (await through('postgres', name)).query('CREATE EXTENSION pg_llm');
    await direct.query(`CREATE SCHEMA alice AUTHORIZATION trust_user; CREATE SCHEMA mallory AUTHORIZATION password_user`);
    await direct.query(`GRANT ${WORKER_PRIVILEGES} ON llm.queue TO trust_user, password_user`);
    const alice = await through('trust', name);
    const mallory = await through('password', name);
    await alice.query(`SELECT pg_llm_add_model(false, 'openai_compatible', 'fast', NULL, $1)`, [JSON.stringify({ model_name: 'gpt-test', base_url: shared.fake.baseUrl, max_retries: 0 })]);
    await mallory.query(`SELECT pg_llm_add_model(false, 'openai_compatible', 'slow', NULL, $1)`, [
      JSON.stringify({ model_name: 'gpt-test', base_url: mallorysServer.baseUrl, max_retries: 0, timeout_ms: 3_600_000 }),
    ]);
    for (const [client, schema, model] of [[alice, 'alice', 'fast'], [mallory, 'mallory', 'slow']] as const) {
      await client.query(`CREATE TABLE ${schema}.docs (id int PRIMARY KEY, body text, summary text)`);
      await client.query(`CREATE TRIGGER enrich AFTER INSERT OR UPDATE ON ${schema}.docs FOR EACH ROW EXECUTE FUNCTION llm.call('Summarize: {body}', 'summary', 'model=${model}')`);
    }

    const held = new Promise<void>((resolve) => (letGo = resolve));
    mallorysServer.script(...Array.from({ length: 4 }, () => ({ kind: 'reply' as const, answer: () => 'late', hold: held })));
    startWorker(name, {}, { env: {} }, 'password_user:cleartext secret');
    await mallory.query(`INSERT INTO mallory.docs SELECT g, 'text ' || g, NULL FROM generate_series(1, 4) g`);
    await expect.poll(() => mallorysServer.requests.length).toBeGreaterThanOrEqual(2);

    shared.fake.script({ kind: 'answer', content: "alice's summary" });
    startWorker(name, {}, { env: {} }, 'trust_user');
    await alice.query(`INSERT INTO alice.docs VALUES (1, 'the quarterly figures', NULL)`);
    await expect.poll(async () => (await alice.query(`SELECT summary FROM alice.docs`)).rows).toEqual([{ summary: "alice's summary" }]);
  }, 60_000);
});
