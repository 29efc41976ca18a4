// Whose an llm.call job is: the table's it was queued for, by oid, and the role's that owned that table then. A job
// outlives its table's name (a rename, a drop), and whoever owns a table of that name afterwards must neither read
// its prompt (the row's values) nor change it, nor have it run. Two ordinary roles on one database, each granted what
// docs/llm-call.md grants a worker's role, and a schema both may create in.

import type pg from 'pg';
import { describe, expect, it } from 'vitest';
import { migrate, shippedMigrations } from '../../src/catalog/migrate.js';
import { WORKER_PRIVILEGES } from '../../src/worker/queue.js';
import { freshDatabase } from '../support/database.js';
import { databaseWithModel, proxyAndFakeProvider } from '../support/models.js';
import { connectAs, directAs, roles } from '../support/roles.js';
import { startWorker } from '../support/worker.js';

const EVENTUALLY = { timeout: 10_000 };
const SECRET = 'patient 4711: HIV positive';

const shared = proxyAndFakeProvider();

async function rows(client: pg.Client, sql: string): Promise<Array<Record<string, unknown>>> {
  return (await client.query(sql)).rows;
}

const prompts = () => shared.fake.requests.map((request) => (request.body.messages as Array<{ content: string }>)[0]!.content);

/** Alice's shared.notes, enriched by an llm.call trigger, and her row 1, whose job waits: no worker runs yet, as while one is down or behind. */
async function alicesWaitingJob() {
  const { name, direct } = await databaseWithModel(shared.proxy, shared.fake, 'openai');
  await direct.query(`CREATE SCHEMA shared; GRANT USAGE, CREATE ON SCHEMA shared TO trust_user, password_user`);
  await direct.query(`GRANT ${WORKER_PRIVILEGES} ON llm.queue TO trust_user, password_user`);
  const alice = await connectAs('trust', name);
  const mallory = await connectAs('password', name);
  await alice.query(`CREATE TABLE shared.notes (id int PRIMARY KEY, body text, summary text)`);
  await alice.query(`CREATE TRIGGER enrich AFTER INSERT OR UPDATE ON shared.notes FOR EACH ROW EXECUTE FUNCTION llm.call('Summarize: {body}', 'summary', 'model=llm')`);
  await alice.query(`INSERT INTO shared.notes VALUES (1, '${SECRET}', NULL)`);
  expect(await rows(mallory, `SELECT id FROM llm.queue`)).toEqual([]);
  return { name, direct, alice, mallory };
}

const alicesWorker = (name: string) => startWorker(name, {}, { env: {} }, 'trust_user');
const mallorysWorker = (name: string) => startWorker(name, {}, { env: {} }, 'password_user:cleartext%20secret');

describe('an llm.call job of a table renamed', () => {
  it("stays its owner's: another role that takes the table's old name neither reads nor changes it", async () => {
    const { direct, alice, mallory } = await alicesWaitingJob();
    await alice.query(`ALTER TABLE shared.notes RENAME TO notes_2024`);
    await mallory.query(`CREATE TABLE shared.notes (id int PRIMARY KEY, body text, summary text)`);

    const seen = (await mallory.query(`SELECT prompt, prompt_values FROM llm.queue`)).rows;
    expect(JSON.stringify(seen)).not.toContain('HIV');
    const changed = (await mallory.query(`UPDATE llm.queue SET deleted = true RETURNING id`)).rows;
    expect(changed).toEqual([]);
    expect((await direct.query(`SELECT count(*)::int AS n FROM _pg_llm_catalog.pg_llm_queue`)).rows).toEqual([{ n: 1 }]);
    // Alice sees it still, under the table's new name.
    expect(await rows(alice, `SELECT table_schema, table_name, status FROM llm.queue`)).toEqual([{ table_schema: 'shared', table_name: 'notes_2024', status: 'pending' }]);
  });

  it("is answered into the renamed table by its owner's worker, whatever the role that took the old name does with the queue", async () => {
    const { name, alice, mallory } = await alicesWaitingJob();
    await alice.query(`ALTER TABLE shared.notes RENAME TO notes_2024`);
    // Mallory's row of the same key and text, and the job bound to it as her worker would want it.
    await mallory.query(`CREATE TABLE shared.notes (id int PRIMARY KEY, body text, summary text)`);
    await mallory.query(`INSERT INTO shared.notes VALUES (1, '${SECRET}', NULL)`);
    const reset = await mallory.query(`UPDATE llm.queue SET status = 'pending', row_xmin = (SELECT xmin FROM shared.notes WHERE id = 1)`);
    expect(reset.rowCount).toBe(0);
    shared.fake.script({ kind: 'answer', content: "alice's summary" });
    mallorysWorker(name);
    alicesWorker(name);
    await expect.poll(() => rows(alice, `SELECT summary FROM shared.notes_2024`), EVENTUALLY).toEqual([{ summary: "alice's summary" }]);
    expect(await rows(mallory, `SELECT summary FROM shared.notes`)).toEqual([{ summary: null }]);
    expect(prompts()).toEqual([`Summarize: ${SECRET}`]);
  });
});

describe('an llm.call job of a table dropped', () => {
  it("is skipped unasked by its owner's worker, and never reaches the table that takes the name", async () => {
    const { name, alice, mallory } = await alicesWaitingJob();
    await alice.query(`DROP TABLE shared.notes`);
    await mallory.query(`CREATE TABLE shared.notes (id int PRIMARY KEY, body text, summary text)`);
    await mallory.query(`INSERT INTO shared.notes VALUES (1, '${SECRET}', NULL)`);
    expect(await rows(mallory, `SELECT id FROM llm.queue`)).toEqual([]);
    mallorysWorker(name);
    alicesWorker(name);
    await expect.poll(() => rows(alice, `SELECT table_name, status, last_error FROM llm.queue`), EVENTUALLY).toEqual([
      { table_name: 'notes', status: 'skipped', last_error: 'skipped before asking the model: its table no longer exists' },
    ]);
    expect(await rows(mallory, `SELECT summary FROM shared.notes`)).toEqual([{ summary: null }]);
    expect(prompts()).toEqual([]);
  });
});

describe('an llm.call job of a table that another role owns now', () => {
  // The table of the job's oid is no longer of the role the job was queued under: given away here, as a table that
  // takes the oid of a dropped one (once oids wrap around) would be.
  it("is neither seen nor run by the new owner, and is skipped by the former owner's worker; a new write queues the row's job for the new owner", async () => {
    const { name, direct, alice, mallory } = await alicesWaitingJob();
    await direct.query(`ALTER TABLE shared.notes OWNER TO password_user`);
    expect(await rows(mallory, `SELECT id FROM llm.queue`)).toEqual([]);
    mallorysWorker(name);
    alicesWorker(name);
    await expect.poll(() => rows(alice, `SELECT status, last_error FROM llm.queue`), EVENTUALLY).toEqual([
      { status: 'skipped', last_error: expect.stringContaining('its table has another owner than when the job was queued') },
    ]);
    expect(prompts()).toEqual([]);

    shared.fake.script({ kind: 'answer', content: "mallory's summary" });
    await mallory.query(`UPDATE shared.notes SET body = 'rewritten' WHERE id = 1`);
    await expect.poll(() => rows(mallory, `SELECT summary FROM shared.notes`), EVENTUALLY).toEqual([{ summary: "mallory's summary" }]);
    expect(prompts()).toEqual(['Summarize: rewritten']);
  });
});

describe('llm.call jobs queued before they were bound to their tables', () => {
  it('are bound, on upgrade, to the table of their name that has their trigger; the others end in error, seen by no role', async () => {
    const [alice, mallory] = await roles('alice', 'mallory');
    const { name, client: direct } = await freshDatabase();
    const all = shippedMigrations();
    await migrate(direct, all.filter((migration) => migration.name < '0024'));
    await direct.query(`GRANT ${WORKER_PRIVILEGES} ON llm.queue TO ${alice}, ${mallory}`);
    await direct.query(`CREATE TABLE kept (id int PRIMARY KEY, body text, summary text); ALTER TABLE kept OWNER TO ${alice}`);
    await direct.query(`CREATE TRIGGER enrich AFTER INSERT OR UPDATE ON kept FOR EACH ROW EXECUTE FUNCTION llm.call('Summarize: {body}', 'summary')`);
    // Alice's notes were renamed away before the upgrade; mallory has made a table of that name, without their trigger.
    await direct.query(`CREATE TABLE notes (id int PRIMARY KEY, body text, summary text); ALTER TABLE notes OWNER TO ${mallory}`);
    await direct.query(
      `INSERT INTO _pg_llm_catalog.pg_llm_queue (table_schema, table_name, trigger_name, row_pk, prompt_values, prompt, target_columns, status, processed_at)
       VALUES ('public', 'kept', 'enrich', '{"id": 1}', '{"body": "kept"}', 'Summarize: kept', '{summary}', 'pending', NULL),
              ('public', 'notes', 'enrich', '{"id": 1}', '{"body": "${SECRET}"}', 'Summarize: ${SECRET}', '{summary}', 'pending', NULL),
              ('public', 'gone', 'enrich', '{"id": 1}', '{"body": "done"}', 'Summarize: done', '{summary}', 'done', now())`,
    );
    await migrate(direct, all);

    expect(await rows(await directAs(name, alice), `SELECT table_name, status, table_oid = 'kept'::regclass AS bound FROM llm.queue`)).toEqual([
      { table_name: 'kept', status: 'pending', bound: true },
    ]);
    expect(await rows(await directAs(name, mallory), `SELECT prompt FROM llm.queue`)).toEqual([]);
    expect(await rows(direct, `SELECT table_name, status, last_error, table_oid FROM llm.queue ORDER BY id`)).toEqual([
      { table_name: 'kept', status: 'pending', last_error: null, table_oid: expect.any(Number) },
      {
        table_name: 'notes',
        status: 'error',
        last_error: expect.stringContaining('no table public.notes had its llm.call trigger enrich'),
        table_oid: null,
      },
    ]);
  });
});
