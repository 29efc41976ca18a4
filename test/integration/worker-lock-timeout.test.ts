// The llm.call worker's connections wait for a lock only so long: another role holding a lock on a job's table for
// as long as it likes no longer keeps a connection of the worker waiting as long. Two ordinary roles on one
// database: alice (trust_user) owns the tables and runs their worker, bob (password_user), whom she lets update one
// of them, holds it ACCESS EXCLUSIVE in an open transaction.

import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { migrate } from '../../src/catalog/migrate.js';
import { WORKER_PRIVILEGES } from '../../src/worker/queue.js';
import { freshDatabase } from '../support/database.js';
import { connectAs } from '../support/roles.js';
import { startWorker } from '../support/worker.js';

const EVENTUALLY = { timeout: 20_000 };

/** Alice's tables alice.docs and alice.notes, both enriched by the mock model 'm'; bob may update alice.docs. */
async function aliceAndBob() {
  const { name, client: direct } = await freshDatabase();
  await migrate(direct);
  await direct.query(`INSERT INTO _pg_llm_catalog.pg_llm_models (instance_name, model_type, config) VALUES ('m', 'mock', '{"mock_mode": "echo"}')`);
  await direct.query(`CREATE SCHEMA alice AUTHORIZATION trust_user; GRANT ${WORKER_PRIVILEGES} ON llm.queue TO trust_user`);
  const alice = await connectAs('trust', name);
  for (const table of ['docs', 'notes']) {
    await alice.query(`CREATE TABLE alice.${table} (id int PRIMARY KEY, body text, summary text)`);
    await alice.query(`CREATE TRIGGER enrich AFTER INSERT OR UPDATE OF body ON alice.${table} FOR EACH ROW EXECUTE FUNCTION llm.call('{body}', 'summary', 'model=m')`);
  }
  await alice.query(`GRANT USAGE ON SCHEMA alice TO password_user; GRANT SELECT, UPDATE ON alice.docs TO password_user`);
  const bob = await connectAs('password', name);
  return { name, direct, alice, bob };
}

async function rows(client: pg.Client, sql: string): Promise<Array<Record<string, unknown>>> {
  return (await client.query(sql)).rows;
}

describe("the worker's lock_timeout", () => {
  it("carries on with other tables' jobs while a table is held ACCESS EXCLUSIVE, its jobs put off without an attempt counted", async () => {
    const { name, direct, alice, bob } = await aliceAndBob();
    await alice.query(`INSERT INTO alice.docs SELECT i, 'doc ' || i FROM generate_series(1, 30) i`);
    await alice.query(`INSERT INTO alice.notes SELECT i, 'note ' || i FROM generate_series(1, 5) i`);
    await bob.query('BEGIN; LOCK TABLE alice.docs IN ACCESS EXCLUSIVE MODE');

    // A short lock_timeout of the operator's, in the --worker URL's options, for a test that waits for it to pass.
    startWorker(`${name}?options=-c%20lock_timeout%3D300ms`, { concurrency: 2 }, { env: {} }, 'trust_user');
    await expect.poll(() => rows(alice, `SELECT id, summary FROM alice.notes ORDER BY id`), EVENTUALLY).toEqual(
      [1, 2, 3, 4, 5].map((id) => ({ id, summary: `note ${id}` })),
    );
    // None of the worker's sessions is left waiting for bob's lock, and it holds no more connections than its pool.
    await expect.poll(async () => (await rows(direct, `SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'pg_llm worker' AND wait_event_type = 'Lock'`))[0]!.n, EVENTUALLY).toBe(0);
    expect((await rows(direct, `SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'pg_llm worker' AND datname = current_database()`))[0]!.n).toBeLessThanOrEqual(4);
    // The held table's jobs wait, none failed nor an attempt spent; those the worker tried say why.
    const docsJobs = `SELECT status, attempts, last_error FROM llm.queue WHERE table_name = 'docs'`;
    const waiting = await rows(direct, docsJobs);
    expect(waiting).toHaveLength(30);
    expect(waiting.filter((job) => job.status !== 'pending' || job.attempts !== 0)).toEqual([]);
    expect(waiting.some((job) => String(job.last_error).includes("could not lock its table within the worker's lock_timeout"))).toBe(true);

    // Once bob lets go, they run when due: made due now here, rather than waited for.
    await bob.query('COMMIT');
    await direct.query(`UPDATE llm.queue SET run_after = now() WHERE table_name = 'docs' AND status = 'pending'`);
    await expect.poll(async () => (await rows(alice, `SELECT count(*)::int AS n FROM alice.docs WHERE summary = body`))[0]!.n, EVENTUALLY).toBe(30);
  });

  it('is a startup option: the owner\'s role setting does not lift it, and DISCARD ALL between jobs keeps it', async () => {
    const { name, direct, alice } = await aliceAndBob();
    // Alice's own setting for her sessions in this database: no bound.
    await direct.query(`ALTER ROLE trust_user IN DATABASE ${name} SET lock_timeout = 0`);
    expect(await rows(await connectAs('trust', name), `SHOW lock_timeout`)).toEqual([{ lock_timeout: '0' }]);
    await alice.query(`CREATE TABLE alice.seen (id int, lock_timeout text)`);
    await alice.query(`CREATE FUNCTION alice.note_setting() RETURNS trigger LANGUAGE plpgsql AS $$
                       BEGIN INSERT INTO alice.seen VALUES (NEW.id, current_setting('lock_timeout')); RETURN NEW; END $$`);
    await alice.query(`CREATE TRIGGER note_setting BEFORE UPDATE OF summary ON alice.notes FOR EACH ROW EXECUTE FUNCTION alice.note_setting()`);
    await alice.query(`INSERT INTO alice.notes SELECT i, 'note ' || i FROM generate_series(1, 6) i`);

    startWorker(name, { concurrency: 1 }, { env: {} }, 'trust_user');
    await expect.poll(async () => (await rows(alice, `SELECT count(*)::int AS n FROM alice.notes WHERE summary IS NOT NULL`))[0]!.n, EVENTUALLY).toBe(6);
    // Written one at a time, on connections wiped between them (DISCARD ALL).
    expect(await rows(alice, `SELECT DISTINCT lock_timeout FROM alice.seen`)).toEqual([{ lock_timeout: '30s' }]);
  });
});
