// Hostile review of the catalog's grants and SECURITY DEFINER functions (review23): two ordinary roles on one
// database, alice (trust_user) owning the tables, mallory (password_user) trying to make the catalog tell her what
// she may not read. Each test asserts the safe behaviour.

import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { WORKER_PRIVILEGES } from '../../src/worker/queue.js';
import { databaseWithModel, proxyAndFakeProvider } from '../support/models.js';
import { connectAs } from '../support/roles.js';

const shared = proxyAndFakeProvider();

async function rows(client: pg.Client, sql: string, parameters: unknown[] = []): Promise<Array<Record<string, unknown>>> {
  return (await client.query(sql, parameters)).rows;
}

/** alice (trust_user) and mallory (password_user) on a database with the model 'llm' on the fake provider. */
async function aliceAndMallory() {
  const { name, direct } = await databaseWithModel(shared.proxy, shared.fake, 'openai');
  await direct.query(`CREATE SCHEMA alice AUTHORIZATION trust_user; CREATE SCHEMA mallory AUTHORIZATION password_user`);
  await direct.query(`GRANT ${WORKER_PRIVILEGES} ON llm.queue TO trust_user, password_user`);
  const alice = await connectAs('trust', name);
  const mallory = await connectAs('password', name);
  return { name, direct, alice, mallory };
}

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

