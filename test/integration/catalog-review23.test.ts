// Hostile review of the catalog's grants and SECURITY DEFINER functions (review23): two ordinary roles on one
// database, alice (trust_user) owning the tables and running her worker, mallory (password_user) trying to make the
// catalog or the worker act for her on alice's objects. Each test asserts the safe behaviour.

import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { WORKER_PRIVILEGES } from '../../src/worker/queue.js';
import { databaseWithModel, proxyAndFakeProvider } from '../support/models.js';
import { connectAs } from '../support/roles.js';
import { startWorker } from '../support/worker.js';

const EVENTUALLY = { timeout: 10_000 };

const shared = proxyAndFakeProvider();

const alicesWorker = (name: string) => startWorker(name, {}, { env: {} }, 'trust_user');

async function rows(client: pg.Client, sql: string, parameters: unknown[] = []): Promise<Array<Record<string, unknown>>> {
  return (await client.query(sql, parameters)).rows;
}

const prompts = () => shared.fake.requests.map((request) => (request.body.messages as Array<{ content: string }>)[0]!.content);

/** alice (trust_user) and mallory (password_user) on a database with the model 'llm' on the fake provider. */
async function aliceAndMallory() {
  const { name, direct } = await databaseWithModel(shared.proxy, shared.fake, 'openai');
  await direct.query(`CREATE SCHEMA alice AUTHORIZATION trust_user; CREATE SCHEMA mallory AUTHORIZATION password_user`);
  await direct.query(`GRANT ${WORKER_PRIVILEGES} ON llm.queue TO trust_user, password_user`);
  const alice = await connectAs('trust', name);
  const mallory = await connectAs('password', name);
  return { name, direct, alice, mallory };
}

describe('llm.call jobs of a trigger that did not fire', () => {
  it("runs no job of alice's trigger whose WHEN the row does not meet, queued by a role that may only insert", async () => {
    const { name, direct, alice, mallory } = await aliceAndMallory();
    // Alice lets anyone submit tickets; only the tickets she approves get the (costly) triage by the model.
    await alice.query(`CREATE TABLE alice.tickets (id int PRIMARY KEY, body text, approved boolean NOT NULL DEFAULT false, triage text)`);
    await alice.query(`CREATE TRIGGER triage AFTER INSERT OR UPDATE ON alice.tickets FOR EACH ROW WHEN (NEW.approved)
                       EXECUTE FUNCTION llm.call('Triage: {body}', 'triage', 'model=llm')`);
    await alice.query(`GRANT USAGE ON SCHEMA alice TO password_user; GRANT INSERT (id, body) ON alice.tickets TO password_user`);

    await mallory.query(`CREATE FUNCTION mallory.forge() RETURNS trigger LANGUAGE plpgsql AS $$
                         BEGIN
                           PERFORM _pg_llm_catalog.enqueue_llm_job('alice.tickets'::regclass, 'triage', '{"id": 7}', '{"body": "spend it"}');
                           RETURN NULL;
                         END $$`);
    await mallory.query(`CREATE TABLE mallory.mine (id int PRIMARY KEY)`);
    await mallory.query(`CREATE TRIGGER forge AFTER INSERT ON mallory.mine FOR EACH ROW EXECUTE FUNCTION mallory.forge()`);
    // Her own unapproved ticket, then in the same transaction the job the trigger never queued for it.
    await mallory.query('BEGIN');
    await mallory.query(`INSERT INTO alice.tickets (id, body) VALUES (7, 'spend it')`);
    const forged = mallory.query(`INSERT INTO mallory.mine VALUES (1)`).then(() => 'queued', (error: Error) => error.message);
    const outcome = await forged;
    await mallory.query(outcome === 'queued' ? 'COMMIT' : 'ROLLBACK');

    shared.fake.script({ kind: 'answer', content: 'triaged for mallory' });
    alicesWorker(name);
    await expect
      .poll(async () => (await rows(direct, `SELECT count(*)::int AS n FROM llm.queue WHERE status IN ('pending', 'processing')`))[0]!.n, EVENTUALLY)
      .toBe(0);
    // Safe: the model was never asked for a ticket alice did not approve, and nothing was written into it.
    expect.soft(prompts()).toEqual([]);
    expect.soft(await rows(direct, `SELECT id, approved, triage FROM alice.tickets`)).toEqual(outcome === 'queued' ? [{ id: 7, approved: false, triage: null }] : []);
  });
});

describe('llm.call jobs queued from code llm.call() runs', () => {
  it("refuses a job of alice's table from a cast llm.call() runs for mallory's own row, whatever its function is named", async () => {
    const { alice, mallory, direct } = await aliceAndMallory();
    await alice.query(`CREATE TABLE alice.tickets (id int PRIMARY KEY, body text, triage text)`);
    await alice.query(`CREATE TRIGGER triage AFTER INSERT OR UPDATE ON alice.tickets FOR EACH ROW WHEN (NEW.body = 'approved')
                       EXECUTE FUNCTION llm.call('Triage: {body}', 'triage', 'model=llm')`);
    await alice.query(`GRANT USAGE ON SCHEMA alice TO password_user; GRANT INSERT (id, body) ON alice.tickets TO password_user`);
    // to_jsonb(NEW) in llm.call() runs the cast of a column's type to json: mallory's code, one frame below llm.call(),
    // calling with the very statement llm.call() calls with, from a function whose name spells llm.call().
    await mallory.query(`CREATE TYPE mallory.mood AS ENUM ('x')`);
    await mallory.query(`CREATE FUNCTION mallory." llm.call() "(m mallory.mood) RETURNS json LANGUAGE plpgsql AS $$
                         DECLARE
                           tg_relid oid := 'alice.tickets'::regclass;
                           tg_name name := 'triage';
                           row_pk jsonb := '{"id": 7}';
                           prompt_values jsonb := '{"body": "spend it"}';
                         BEGIN
                           PERFORM _pg_llm_catalog.enqueue_llm_job(TG_RELID, TG_NAME, row_pk, prompt_values);
                           RETURN '{}';
                         END $$`);
    await mallory.query(`CREATE CAST (mallory.mood AS json) WITH FUNCTION mallory." llm.call() "(mallory.mood)`);
    await mallory.query(`CREATE TABLE mallory.notes (id int PRIMARY KEY, mood mallory.mood, reply text)`);
    await mallory.query(`CREATE TRIGGER reply AFTER INSERT ON mallory.notes FOR EACH ROW EXECUTE FUNCTION llm.call('Reply: {id}', 'reply', 'model=llm')`);
    await mallory.query('BEGIN');
    await mallory.query(`INSERT INTO alice.tickets (id, body) VALUES (7, 'spend it')`);
    await expect(mallory.query(`INSERT INTO mallory.notes VALUES (1, 'x')`)).rejects.toMatchObject({
      code: '42501',
      message: expect.stringContaining('queued only by the llm.call trigger'),
    });
    await mallory.query('ROLLBACK');
    expect(await rows(direct, `SELECT table_name FROM llm.queue`)).toEqual([]);
  });
});

describe('what rebind_llm_job tells its caller', () => {
  it("does not tell a role that may only insert whether alice's waiting job holds the values it guesses", async () => {
    const { alice, mallory } = await aliceAndMallory();
    await alice.query(`CREATE TABLE alice.inbox (id int PRIMARY KEY, verdict text, summary text)`);
    await alice.query(`CREATE TRIGGER enrich AFTER INSERT OR UPDATE ON alice.inbox FOR EACH ROW EXECUTE FUNCTION llm.call('Summarize: {verdict}', 'summary', 'model=llm')`);
    await alice.query(`GRANT USAGE ON SCHEMA alice TO password_user; GRANT INSERT (id) ON alice.inbox TO password_user`);
    // Alice's row, which mallory may not read; no worker runs, so its job waits.
    await alice.query(`INSERT INTO alice.inbox (id, verdict) VALUES (1, 'guilty')`);
    await expect(mallory.query(`SELECT verdict FROM alice.inbox`)).rejects.toMatchObject({ code: '42501' });

    await mallory.query(`CREATE FUNCTION mallory.probe() RETURNS trigger LANGUAGE plpgsql AS $$
                         BEGIN
                           PERFORM _pg_llm_catalog.rebind_llm_job('alice.inbox'::regclass, 'enrich', '{"id": 1}', pg_catalog.jsonb_build_object('verdict', TG_ARGV[0]));
                           RETURN NULL;
                         END $$`);
    await mallory.query(`CREATE TABLE mallory.guesses (id int PRIMARY KEY)`);
    /** Rows this transaction added to the queue once mallory's trigger has asked about `guess`, or the SQLSTATE refusing it. */
    const queuedFor = async (guess: string, id: number): Promise<number | string> => {
      await mallory.query(`CREATE OR REPLACE TRIGGER probe AFTER INSERT ON mallory.guesses FOR EACH ROW EXECUTE FUNCTION mallory.probe('${guess}')`);
      await mallory.query('BEGIN');
      try {
        await mallory.query(`INSERT INTO alice.inbox (id) VALUES (${id})`);
        const before = (await rows(mallory, `SELECT pg_stat_get_xact_tuples_inserted('_pg_llm_catalog.pg_llm_queue'::regclass)::int AS n`))[0]!.n as number;
        const refused = await mallory.query(`INSERT INTO mallory.guesses VALUES (${id})`).then(() => undefined, (error: { code: string }) => error.code);
        if (refused) return refused;
        const after = (await rows(mallory, `SELECT pg_stat_get_xact_tuples_inserted('_pg_llm_catalog.pg_llm_queue'::regclass)::int AS n`))[0]!.n as number;
        return after - before;
      } finally {
        await mallory.query('ROLLBACK');
      }
    };
    // Safe: a right guess and a wrong one look the same to her.
    expect(await queuedFor('guilty', 100)).toBe(await queuedFor('innocent', 101));
  });
});

