// A provider's batch of llm.call jobs is read only for the jobs it was submitted for. The worker writes a job's batch
// in the name of the job's owner, and matches a batch's results to jobs by custom_id, the job's id, which a job of
// another database's queue has too: a job naming another database's batch must not be written the answer that batch
// holds for the job of its id. Two databases through one proxy, their models registered with the same key, the fake
// provider's batch APIs on loopback (the victim's batch ended and read first, then named by the other database's
// superuser, who may write any column); and an ordinary worker's role, which may write neither batch_id nor batch_tag.

import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { WORKER_PRIVILEGES } from '../../src/worker/queue.js';
import { databaseWithModel, proxyAndFakeProvider } from '../support/models.js';
import type { FakeBatch } from '../support/fake-batches.js';
import { connectAs } from '../support/roles.js';
import { startWorker } from '../support/worker.js';

const EVENTUALLY = { timeout: 15_000 };
const shared = proxyAndFakeProvider();
const ANTHROPIC = { base_url: '', model_name: 'claude-test', max_tokens: 300 };

async function rows(client: pg.Client, sql: string): Promise<Array<Record<string, unknown>>> {
  return (await client.query(sql)).rows;
}

async function batchedDocs(provider = 'openai'): Promise<pg.Client> {
  const config = provider === 'anthropic' ? { ...ANTHROPIC, base_url: shared.fake.baseUrl.replace(/\/v1$/, '') } : {};
  const { name, client } = await databaseWithModel(shared.proxy, shared.fake, provider, { batch: true, ...config });
  await client.query(`CREATE TABLE docs (id int PRIMARY KEY, body text, summary text)`);
  await client.query(`CREATE TRIGGER enrich AFTER INSERT OR UPDATE OF body ON docs FOR EACH ROW EXECUTE FUNCTION llm.call('Summarize: {body}', 'summary', 'model=llm')`);
  startWorker(name);
  return client;
}

async function nextBatch(before: number): Promise<FakeBatch> {
  await expect.poll(() => shared.fake.batches.all.length, EVENTUALLY).toBe(before + 1);
  return shared.fake.batches.all[before]!;
}

/** The victim's job answered in its batch, then the attacker's job 1 naming that batch, once it has settled. */
async function namedAcrossDatabases(provider: string) {
  const first = shared.fake.batches.all.length;
  const victim = await batchedDocs(provider);
  await victim.query(`INSERT INTO docs (id, body) VALUES (1, 'the payroll of March')`);
  const theirs = await nextBatch(first);
  shared.fake.batches.end(theirs, (prompt) => `confidential: ${prompt}`);
  await expect.poll(() => rows(victim, `SELECT summary FROM docs`), EVENTUALLY).toEqual([{ summary: 'confidential: Summarize: the payroll of March' }]);

  const attacker = await batchedDocs(provider);
  await attacker.query(`INSERT INTO docs (id, body) VALUES (7, 'anything')`);
  await nextBatch(first + 1);
  await expect.poll(() => rows(attacker, `SELECT status FROM llm.queue`), EVENTUALLY).toEqual([{ status: 'batched' }]);
  // The attacker's job has the id the victim's had in its own database's queue; it names the victim's batch.
  expect(await rows(attacker, `SELECT id::int FROM llm.queue`)).toEqual([{ id: 1 }]);
  await attacker.query(`UPDATE llm.queue SET batch_id = $1`, [theirs.id]);
  // Settled: written back, or failed with a reason (a retry may be batched again meanwhile).
  await expect.poll(() => rows(attacker, `SELECT status = 'done' OR last_error IS NOT NULL AS settled FROM llm.queue`), EVENTUALLY).toEqual([{ settled: true }]);
  expect(await rows(attacker, `SELECT summary FROM docs`)).not.toEqual([{ summary: 'confidential: Summarize: the payroll of March' }]);
  expect(await rows(attacker, `SELECT last_error FROM llm.queue`)).toEqual([{ last_error: `the ${provider} batch ${theirs.id} is not the one submitted for them` }]);
  return { victim, theirs };
}

describe('a batch of llm.call jobs', () => {
  it("never has another database's OpenAI batch read into the rows of the jobs that name it", async () => {
    const { victim, theirs } = await namedAcrossDatabases('openai');
    // Its results were not even fetched for the attacker's job: the tag is looked at first.
    expect(shared.fake.requests.filter((request) => request.path.includes(theirs.id))).not.toEqual([]);
    expect(shared.fake.requests.filter((request) => request.path.includes(`file-out-${theirs.id}`))).toEqual([]);
    // The victim's batch carried the tag its jobs keep.
    expect(await rows(victim, `SELECT batch_tag FROM llm.queue`)).toEqual([{ batch_tag: theirs.metadata?.pg_llm_tag }]);
    expect(theirs.metadata?.pg_llm_tag).toMatch(/^[\w-]{32}$/);
  });

  it("never has another database's Anthropic batch read into the rows of the jobs that name it", async () => {
    const { victim, theirs } = await namedAcrossDatabases('anthropic');
    // Anthropic's batches keep no metadata: each custom_id carries the tag, before the job's id.
    const [{ batch_tag: tag, id }] = (await rows(victim, `SELECT batch_tag, id::text FROM llm.queue`)) as Array<{ batch_tag: string; id: string }>;
    expect(tag).toMatch(/^[\w-]{32}$/);
    expect(theirs.requests.map((request) => request.customId)).toEqual([`${tag}-${id}`]);
  });

  it("has its batch_id and batch_tag written by no role's UPDATE, and recorded only for the jobs the caller has just marked batched", async () => {
    const { name, direct } = await databaseWithModel(shared.proxy, shared.fake, 'openai');
    await direct.query(`GRANT ${WORKER_PRIVILEGES} ON llm.queue TO trust_user, password_user; GRANT CREATE ON SCHEMA public TO trust_user`);
    const alice = await connectAs('trust', name);
    const mallory = await connectAs('password', name);
    await alice.query(`CREATE TABLE docs (id int PRIMARY KEY, body text, summary text)`);
    await alice.query(`CREATE TRIGGER enrich AFTER INSERT OR UPDATE ON docs FOR EACH ROW EXECUTE FUNCTION llm.call('Summarize: {body}', 'summary', 'model=llm')`);
    await alice.query(`INSERT INTO docs VALUES (1, 'body', NULL)`);
    const [{ id }] = (await rows(alice, `SELECT id::text FROM llm.queue`)) as Array<{ id: string }>;

    for (const column of ['batch_id', 'batch_tag']) {
      await expect(alice.query(`UPDATE llm.queue SET ${column} = 'batch_x'`)).rejects.toMatchObject({ code: '42501' });
      await expect(mallory.query(`UPDATE llm.queue SET ${column} = 'batch_x'`)).rejects.toMatchObject({ code: '42501' });
    }
    const record = async (client: pg.Client) =>
      (await client.query(`SELECT pg_catalog.count(*)::int AS n FROM _pg_llm_catalog.batch_llm_jobs(ARRAY[$1]::bigint[], 'batch_x', 'tag') AS id`, [id])).rows;
    // Another role's job, and the owner's job but not marked in this transaction: nothing is recorded.
    expect(await record(mallory)).toEqual([{ n: 0 }]);
    await alice.query(`UPDATE llm.queue SET status = 'batched'`);
    expect(await record(alice)).toEqual([{ n: 0 }]);
    expect(await rows(direct, `SELECT status, batch_id, batch_tag FROM _pg_llm_catalog.pg_llm_queue`)).toEqual([{ status: 'batched', batch_id: null, batch_tag: null }]);
    // As the worker does it: marked through llm.queue, and recorded, in one transaction.
    await alice.query('BEGIN');
    await alice.query(`UPDATE llm.queue SET status = 'batched'`);
    expect(await record(alice)).toEqual([{ n: 1 }]);
    await alice.query('COMMIT');
    expect(await rows(direct, `SELECT batch_id, batch_tag FROM _pg_llm_catalog.pg_llm_queue`)).toEqual([{ batch_id: 'batch_x', batch_tag: 'tag' }]);
  });
});
