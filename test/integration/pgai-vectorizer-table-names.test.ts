// The worker finds a vectorizer's tables (source, queue, failed queue, store) by the names its catalog row gives, in
// a session of their owner. The owner may rename or drop one of them, and another role that may create in the schema
// take its name: that role's relation must be neither read nor written there, as its policies, triggers and a view's
// functions would run with the owner's rights. Alice's vectorizer over team.docs, its queues beside it in a schema
// mallory may create in too; the worker's statements run as the worker runs them, in a pool logged in as alice.

import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { failed, pendingRows, processBatch, refused, servedVectorizers } from '../../src/worker/vectorizers.js';
import { afterThisTest } from '../support/database.js';
import { clientOf, pgAiSuite } from '../support/pg-ai.js';
import { cluster, connection } from '../support/proxy.js';
import { alicesTable } from '../support/vectorizer.js';

const suite = pgAiSuite();

const rows = async (client: pg.Client, sql: string) => (await client.query(sql)).rows;

/**
 * Alice's vectorizer over team.docs with a row queued, a pool logged in as alice, as her worker is, and mallory, who
 * keeps in team.loot what her code finds when it runs.
 */
async function alicesVectorizerInTeam() {
  const { name, direct, alice } = await alicesTable(suite.proxy);
  await direct.query(`CREATE SCHEMA team; GRANT USAGE, CREATE ON SCHEMA team TO trust_user, password_user`);
  await alice.query(`CREATE TABLE team.docs (id int PRIMARY KEY, body text)`);
  await alice.query(`SELECT ai.create_vectorizer('team.docs'::regclass, loading => ai.loading_column('body'), embedding => ai.embedding_openai('m', 3))`);
  await alice.query(`INSERT INTO team.docs VALUES (1, 'the payroll of March')`);
  const mallory = await clientOf(suite.proxy, name, 'password');
  await mallory.query(`CREATE TABLE team.loot (who name, what text); GRANT INSERT ON team.loot TO PUBLIC`);
  await mallory.query(`CREATE FUNCTION team.peek() RETURNS trigger LANGUAGE plpgsql AS $$
                         BEGIN INSERT INTO team.loot SELECT current_user, string_agg(body, ', ') FROM team.docs; RETURN NULL; END $$`);
  const pool = new pg.Pool(connection(cluster().port, 'trust', name));
  afterThisTest(() => pool.end());
  const [vectorizer] = await servedVectorizers(pool);
  return { alice, mallory, pool, vectorizer: vectorizer! };
}

/** mallory's table under the name alice's failed queue had, which takes anyone's rows and runs her trigger. */
async function mallorysFailedQueue(alice: pg.Client, mallory: pg.Client) {
  await alice.query(`ALTER TABLE team._vectorizer_q_failed_1 RENAME TO failed_kept`);
  await mallory.query(`CREATE TABLE team._vectorizer_q_failed_1 (id int, failure_step text, created_at timestamptz DEFAULT now()); GRANT ALL ON team._vectorizer_q_failed_1 TO PUBLIC`);
  await mallory.query(`CREATE TRIGGER peek AFTER INSERT ON team._vectorizer_q_failed_1 FOR EACH STATEMENT EXECUTE FUNCTION team.peek()`);
}

describe("a vectorizer's tables found by name", () => {
  it("are not counted for the dashboard once another role's relation has the queue's name", async () => {
    const { alice, mallory, pool, vectorizer } = await alicesVectorizerInTeam();
    expect(await pendingRows(pool, vectorizer)).toBe(1);
    await alice.query(`ALTER TABLE team._vectorizer_q_1 RENAME TO queue_kept`);
    await mallory.query(`CREATE FUNCTION team.peeking() RETURNS SETOF int LANGUAGE plpgsql AS $$
                           BEGIN INSERT INTO team.loot SELECT current_user, string_agg(body, ', ') FROM team.docs; RETURN; END $$`);
    await mallory.query(`CREATE VIEW team._vectorizer_q_1 AS SELECT id FROM team.peeking() AS id; GRANT SELECT ON team._vectorizer_q_1 TO PUBLIC`);

    const counted = await pendingRows(pool, vectorizer);
    expect(await rows(mallory, `SELECT who, what FROM team.loot`)).toEqual([]);
    expect(counted).toBeUndefined();
  });

  it("take no row of a batch once another role's table has the failed queue's name", async () => {
    const { alice, mallory, pool, vectorizer } = await alicesVectorizerInTeam();
    await mallorysFailedQueue(alice, mallory);
    // A batch as the worker's: its rows refused for good go to the failed queue.
    let embedded = false;
    const outcome = await processBatch(pool, vectorizer, async (batch, client) => {
      embedded = true;
      await refused(client, vectorizer, batch.keys, 'refused', 'chunking');
      return [];
    });
    expect({ outcome, embedded }).toEqual({ outcome: 'not ours', embedded: false });
    expect(await rows(mallory, `SELECT who, what FROM team.loot`)).toEqual([]);
    expect(await rows(alice, `SELECT id FROM team._vectorizer_q_1`)).toEqual([{ id: 1 }]);
  });

  it("move no key out of retries once another role's table has the failed queue's name", async () => {
    const { alice, mallory, pool, vectorizer } = await alicesVectorizerInTeam();
    await alice.query(`UPDATE team._vectorizer_q_1 SET loading_retries = 6`);
    await mallorysFailedQueue(alice, mallory);
    await failed(pool, vectorizer, [{ id: 1 }], 'the provider is down', 50);
    expect(await rows(mallory, `SELECT who, what FROM team.loot`)).toEqual([]);
    expect(await rows(alice, `SELECT id, loading_retries FROM team._vectorizer_q_1`)).toEqual([{ id: 1, loading_retries: 6 }]);
  });
});
