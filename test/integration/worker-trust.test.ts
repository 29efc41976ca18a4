// Who can make the llm.call worker spend a model call: two ordinary roles on one database, alice owning a table with
// an llm.call trigger, mallory trying to queue its jobs, the worker running them against the fake provider. Only a
// write of a row queues its job, and the worker asks the model only for a row version that write made.

import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { WORKER_PRIVILEGES } from '../../src/worker/queue.js';
import { afterThisTest } from '../support/database.js';
import { EARLIER_QUEUE_FUNCTIONS } from '../support/earlier-queue-functions.js';
import { plantHostileOverloads } from '../support/hostile-public.js';
import { databaseWithModel, proxyAndFakeProvider } from '../support/models.js';
import { connection } from '../support/proxy.js';
import { connectAs } from '../support/roles.js';
import { startWorker } from '../support/worker.js';

const EVENTUALLY = { timeout: 10_000 };

const shared = proxyAndFakeProvider();

/** The worker of the tables alice owns, connected as alice, as docs/llm-call.md deploys one. */
const alicesWorker = (name: string, settings: Parameters<typeof startWorker>[1] = {}) => startWorker(name, settings, { env: {} }, 'trust_user');

/**
 * A database with the model 'llm' on the fake provider; alice (trust_user) owns alice.docs, enriched by the trigger
 * 'enrich'; mallory (password_user) owns the schema mallory and has a trigger function that queues a job of any table
 * it is given, as a forger would write it.
 */
async function aliceAndMallory() {
  const { name, client, direct } = await databaseWithModel(shared.proxy, shared.fake, 'openai');
  await direct.query(`CREATE SCHEMA alice AUTHORIZATION trust_user; CREATE SCHEMA mallory AUTHORIZATION password_user`);
  // Each owner may run a worker for its own tables: the view shows each only the jobs of the tables it owns.
  await direct.query(`GRANT ${WORKER_PRIVILEGES} ON llm.queue TO trust_user, password_user, scram_user`);
  const alice = await connectAs('trust', name);
  const mallory = await connectAs('password', name);
  await alice.query(`CREATE TABLE alice.docs (id int PRIMARY KEY, body text, summary text, seen int)`);
  await alice.query(`CREATE TRIGGER enrich AFTER INSERT OR UPDATE ON alice.docs FOR EACH ROW EXECUTE FUNCTION llm.call('Summarize: {body}', 'summary', 'model=llm')`);
  await mallory.query(`CREATE FUNCTION mallory.forge() RETURNS trigger LANGUAGE plpgsql AS $$
                       BEGIN
                         PERFORM _pg_llm_catalog.enqueue_llm_job(TG_ARGV[0]::oid, TG_ARGV[1], TG_ARGV[2]::jsonb, TG_ARGV[3]::jsonb);
                         RETURN NULL;
                       END $$`);
  await mallory.query(`CREATE TABLE mallory.mine (id int PRIMARY KEY)`);
  // Anyone can read pg_class: the table's oid is no secret.
  const { rows } = await mallory.query(`SELECT c.oid::text AS oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'alice' AND c.relname = 'docs'`);
  return { name, client, direct, alice, mallory, docs: rows[0].oid as string };
}

/** Alice's row 1, answered once by the model and then edited by hand; `direct` reads the queue. */
async function handEditedRow(alice: pg.Client, direct: pg.Client): Promise<void> {
  shared.fake.script({ kind: 'answer', content: 'first answer' });
  await alice.query(`INSERT INTO alice.docs VALUES (1, 'hello', NULL, 0)`);
  await expect.poll(() => rows(alice, `SELECT summary FROM alice.docs WHERE id = 1`), EVENTUALLY).toEqual([{ summary: 'first answer' }]);
  await alice.query(`UPDATE alice.docs SET summary = 'edited by hand' WHERE id = 1`);
  await expect.poll(unfinished(direct), EVENTUALLY).toBe(0);
  shared.fake.requests.length = 0;
}

async function rows(client: pg.Client, sql: string): Promise<Array<Record<string, unknown>>> {
  return (await client.query(sql)).rows;
}

/** Jobs not yet finished, read by the catalog's owner: only it may read the queue. */
const unfinished = (direct: pg.Client) => async () =>
  (await rows(direct, `SELECT count(*)::int AS n FROM llm.queue WHERE status IN ('pending', 'processing')`))[0]!.n;

const prompts = () => shared.fake.requests.map((request) => (request.body.messages as Array<{ content: string }>)[0]!.content);

/**
 * Alice's trigger fires only WHEN seen > 0, and mallory may insert into her table: mallory's row is one the trigger
 * leaves out, and in the same transaction mallory's own trigger asks for its job. No model call is made for it.
 */
async function expectWhenToHold({ name, direct, alice, mallory, docs }: Awaited<ReturnType<typeof aliceAndMallory>>): Promise<void> {
  await alice.query(`DROP TRIGGER enrich ON alice.docs`);
  await alice.query(`CREATE TRIGGER enrich AFTER INSERT OR UPDATE ON alice.docs FOR EACH ROW WHEN (NEW.seen > 0)
                     EXECUTE FUNCTION llm.call('Summarize: {body}', 'summary', 'model=llm')`);
  await alice.query(`GRANT USAGE ON SCHEMA alice TO password_user; GRANT INSERT ON alice.docs TO password_user`);
  alicesWorker(name);

  await mallory.query(`CREATE TRIGGER forge AFTER INSERT ON mallory.mine FOR EACH ROW
                       EXECUTE FUNCTION mallory.forge('${docs}', 'enrich', '{"id": 100}', '{"body": "mallory row"}')`);
  await mallory.query('BEGIN');
  await mallory.query(`INSERT INTO alice.docs VALUES (100, 'mallory row', NULL, 0)`);
  const forged = await mallory.query(`INSERT INTO mallory.mine VALUES (1)`).then(() => true, () => false);
  await mallory.query('COMMIT');
  if (!forged) await mallory.query(`INSERT INTO alice.docs VALUES (100, 'mallory row', NULL, 0)`);

  // A job queued after hers runs after it: once it is answered, nothing else was asked.
  shared.fake.script({ kind: 'answer', content: 'alice answer' });
  await alice.query(`INSERT INTO alice.docs VALUES (2, 'alice row', NULL, 1)`);
  await expect.poll(unfinished(direct), EVENTUALLY).toBe(0);
  expect(prompts()).toEqual(['Summarize: alice row']);
  expect(await rows(alice, `SELECT id, summary FROM alice.docs ORDER BY id`)).toEqual([
    { id: 2, summary: 'alice answer' },
    { id: 100, summary: null },
  ]);
  expect(await rows(direct, `SELECT row_pk FROM llm.queue ORDER BY id`)).toEqual([{ row_pk: { id: 2 } }]);
}

describe('llm.call jobs and who may queue them', () => {
  it('refuses a role without rights on the table, called directly or from its own trigger: no model call, the hand edit stays', async () => {
    const { name, direct, alice, mallory, docs } = await aliceAndMallory();
    alicesWorker(name);
    await handEditedRow(alice, direct);

    // There is no function to call: only llm.call, which PostgreSQL runs only as the trigger it is, queues a job.
    await expect(
      mallory.query(`SELECT _pg_llm_catalog.enqueue_llm_job($1::oid, 'enrich', '{"id": 1}', '{"body": "hello"}')`, [docs]),
    ).rejects.toMatchObject({ code: '42883' });
    await mallory.query(`CREATE TRIGGER forge AFTER INSERT ON mallory.mine FOR EACH ROW
                         EXECUTE FUNCTION mallory.forge('${docs}', 'enrich', '{"id": 1}', '{"body": "hello"}')`);
    await expect(mallory.query(`INSERT INTO mallory.mine VALUES (1)`)).rejects.toMatchObject({ code: '42883' });
    // The session and its next statement carry on.
    expect(await rows(mallory, `SELECT count(*)::int AS n FROM mallory.mine`)).toEqual([{ n: 0 }]);

    // A job queued after these runs after them: once it is answered, nothing else was asked.
    shared.fake.script({ kind: 'answer', content: 'second answer' });
    await alice.query(`INSERT INTO alice.docs VALUES (2, 'later', NULL, 0)`);
    await expect.poll(unfinished(direct), EVENTUALLY).toBe(0);
    expect(await rows(alice, `SELECT id, summary FROM alice.docs ORDER BY id`)).toEqual([
      { id: 1, summary: 'edited by hand' },
      { id: 2, summary: 'second answer' },
    ]);
    expect(prompts()).toEqual(['Summarize: later']);
  });

  it("queues no job for a write its trigger's WHEN leaves out, whatever the writer's own trigger calls", async () => {
    await expectWhenToHold(await aliceAndMallory());
  });

  it("leaves none of an earlier version's queueing functions in a catalog it upgrades: WHEN holds there too", async () => {
    const database = await aliceAndMallory();
    const { client, direct } = database;
    // The catalog as a version that queued through enqueue_llm_job left it (no level after 0027 applied), upgraded
    // through the proxy by its owner.
    await direct.query(EARLIER_QUEUE_FUNCTIONS);
    await direct.query(`DELETE FROM _pg_llm_catalog.migrations WHERE name > '0028'`);
    await client.query('ALTER EXTENSION pg_llm UPDATE');
    expect(await rows(direct, `SELECT p.oid::regprocedure::text AS f FROM pg_proc p WHERE p.pronamespace = '_pg_llm_catalog'::regnamespace
                                  AND p.proname IN ('enqueue_llm_job', 'rebind_llm_job', 'llm_call_trigger', 'queue_llm_job', 'row_values_query')`)).toEqual([]);
    await expectWhenToHold(database);
  });

  it('fails a job whose prompt and values pass what the worker reads (--max-argument-bytes), neither read nor sent to the model', async () => {
    const { name, direct, alice } = await aliceAndMallory();
    alicesWorker(name, { maxJobBytes: 64 * 1024 });
    // Any role that may write the table makes the job; the prompt and its values are 80 kB together.
    await alice.query(`INSERT INTO alice.docs VALUES (7, repeat('x', 40 * 1024), NULL, 0)`);
    await expect.poll(() => rows(direct, `SELECT last_error FROM llm.queue WHERE last_error IS NOT NULL`), EVENTUALLY).toEqual([
      { last_error: expect.stringContaining('larger than the worker reads') },
    ]);
    expect(prompts()).toEqual([]);
    shared.fake.script({ kind: 'answer', content: 'short answer' });
    await alice.query(`INSERT INTO alice.docs VALUES (8, 'short', NULL, 0)`);
    await expect.poll(() => rows(alice, `SELECT summary FROM alice.docs WHERE id = 8`), EVENTUALLY).toEqual([{ summary: 'short answer' }]);
  });

  it('answers a row written in savepoints and written again since without a change to the prompt', async () => {
    const { name, alice } = await aliceAndMallory();
    shared.fake.script({ kind: 'answer', content: 'nested answer' });
    await alice.query('BEGIN');
    await alice.query(`SAVEPOINT a; INSERT INTO alice.docs VALUES (5, 'nested', NULL, 0); RELEASE a`);
    // As an ORM saves an object: every column, in a savepoint of its own.
    await alice.query(`SAVEPOINT b; UPDATE alice.docs SET body = body, summary = summary, seen = 1 WHERE id = 5; RELEASE b`);
    await alice.query(`SAVEPOINT c; UPDATE alice.docs SET seen = 2 WHERE id = 5; ROLLBACK TO c`);
    await alice.query('COMMIT');
    await alice.query(`UPDATE alice.docs SET seen = 3 WHERE id = 5`);
    alicesWorker(name);
    await expect.poll(() => rows(alice, `SELECT summary, seen FROM alice.docs`), EVENTUALLY).toEqual([{ summary: 'nested answer', seen: 3 }]);
    expect(prompts()).toEqual(['Summarize: nested']);
  });

  it("answers every trigger of a table, each limited by UPDATE OF, run one after another: each answer's write re-binds the others", async () => {
    const { name, alice } = await aliceAndMallory();
    await alice.query(`CREATE TABLE alice.reviews (id int PRIMARY KEY, body text, sentiment text, tags text)`);
    for (const [trigger, prompt, target] of [['a_sentiment', 'Sentiment: {body}', 'sentiment'], ['b_tags', 'Tags: {body}', 'tags']]) {
      await alice.query(`CREATE TRIGGER ${trigger} AFTER INSERT OR UPDATE OF body ON alice.reviews FOR EACH ROW
                         EXECUTE FUNCTION llm.call('${prompt}', '${target}', 'model=llm')`);
    }
    shared.fake.script({ kind: 'answer', content: 'positive' }, { kind: 'answer', content: 'praise' });
    alicesWorker(name, { concurrency: 1 });
    await alice.query(`INSERT INTO alice.reviews VALUES (1, 'Great!', NULL, NULL)`);
    await expect.poll(() => rows(alice, `SELECT sentiment, tags FROM alice.reviews`), EVENTUALLY).toEqual([{ sentiment: 'positive', tags: 'praise' }]);
    expect(prompts()).toEqual(['Sentiment: Great!', 'Tags: Great!']);
  });
});

describe("the model an owner's trigger names", () => {
  it('is not one another role registered first under that name: the job fails for good, its text never sent', async () => {
    const { name, direct, alice } = await aliceAndMallory();
    const mallory = new pg.Client(connection(shared.proxy.port, 'password', name));
    await mallory.connect();
    afterThisTest(() => mallory.end());
    const squat = { model_name: 'gpt-test', base_url: shared.fake.baseUrl, max_retries: 0 };
    await mallory.query(`SELECT pg_llm_add_model(false, 'openai_compatible', 'summarizer', NULL, $1)`, [JSON.stringify(squat)]);
    await alice.query(`CREATE TABLE alice.notes (id int PRIMARY KEY, body text, summary text)`);
    await alice.query(`CREATE TRIGGER enrich AFTER INSERT ON alice.notes FOR EACH ROW EXECUTE FUNCTION llm.call('Summarize: {body}', 'summary', 'model=summarizer', 'max_attempts=1')`);
    shared.fake.requests.length = 0;
    await alice.query(`INSERT INTO alice.notes VALUES (1, 'alice private text', NULL)`);
    alicesWorker(name);
    await expect.poll(unfinished(direct), EVENTUALLY).toBe(0);
    expect(await rows(direct, `SELECT status, last_error FROM llm.queue WHERE table_name = 'notes'`)).toEqual([
      { status: 'error', last_error: expect.stringContaining('model instance "summarizer", named by the llm.call trigger\'s model argument, was registered by role "password_user"') },
    ]);
    expect(prompts()).toEqual([]);
    expect(await rows(alice, `SELECT summary FROM alice.notes`)).toEqual([{ summary: null }]);
  });
});

describe("the worker's role and the owners' code it runs", () => {
  it("runs no job of a table its login role does not own, though a member of its owner: the owner's trigger cannot RESET ROLE to the worker's role", async () => {
    const { name, direct, alice, mallory } = await aliceAndMallory();
    // The worker as an earlier version of the docs set it up: a login role member of the owners of the tables it fills.
    await direct.query(`GRANT trust_user, password_user TO scram_user`);
    afterThisTest(async () => void (await direct.query(`REVOKE trust_user, password_user FROM scram_user`)));
    await direct.query(`CREATE SCHEMA scram AUTHORIZATION scram_user`);
    const scram = await connectAs('scram', name);
    await alice.query(`INSERT INTO alice.docs VALUES (1, 'alice private text', 'alice summary', 0)`);
    // Mallory's own enriched table, and a trigger of hers that runs when a worker writes an answer into it.
    await mallory.query(`CREATE TABLE mallory.notes (id int PRIMARY KEY, body text, summary text)`);
    await mallory.query(`CREATE TABLE mallory.loot (who name, what text)`);
    await mallory.query(`CREATE TRIGGER enrich AFTER INSERT OR UPDATE ON mallory.notes FOR EACH ROW EXECUTE FUNCTION llm.call('Summarize: {body}', 'summary', 'model=llm')`);
    await mallory.query(`CREATE FUNCTION mallory.escape() RETURNS trigger LANGUAGE plpgsql AS $$
                         BEGIN
                           IF session_user <> current_user THEN
                             RESET ROLE;  -- SET ROLE is checked against the session user: the worker's login role
                             INSERT INTO mallory.loot SELECT current_user, (SELECT string_agg(body, ',') FROM alice.docs);
                             SET ROLE trust_user;
                             UPDATE alice.docs SET summary = 'written by mallory';
                             SET ROLE password_user;
                           END IF;
                           RETURN NEW;
                         END $$`);
    await mallory.query(`CREATE TRIGGER escape BEFORE UPDATE ON mallory.notes FOR EACH ROW EXECUTE FUNCTION mallory.escape()`);
    await mallory.query(`INSERT INTO mallory.notes VALUES (1, 'anything', NULL)`);
    // A table of the worker's own role, whose job is queued after mallory's: claimed in order, so once it is answered
    // the worker has passed mallory's job by.
    await scram.query(`CREATE TABLE scram.own (id int PRIMARY KEY, body text, summary text)`);
    await scram.query(`CREATE TRIGGER enrich AFTER INSERT OR UPDATE ON scram.own FOR EACH ROW EXECUTE FUNCTION llm.call('Own: {body}', 'summary', 'model=llm')`);
    await scram.query(`INSERT INTO scram.own VALUES (1, 'mine', NULL)`);

    shared.fake.script({ kind: 'answer', content: 'answered' }, { kind: 'answer', content: 'answered' });
    startWorker(name, {}, { env: {} }, 'scram_user:scram%20secret');
    await expect.poll(() => rows(scram, `SELECT summary IS NOT NULL AS answered FROM scram.own`), EVENTUALLY).toEqual([{ answered: true }]);
    // Alice's and mallory's jobs wait, in plain sight, for their owners' workers.
    expect(await rows(direct, `SELECT table_name, status FROM llm.queue WHERE table_schema <> 'scram' ORDER BY id`)).toEqual([
      { table_name: 'docs', status: 'pending' },
      { table_name: 'notes', status: 'pending' },
    ]);

    startWorker(name, {}, { env: {} }, 'password_user:cleartext%20secret');
    await expect.poll(() => rows(mallory, `SELECT summary FROM mallory.notes`), EVENTUALLY).toEqual([{ summary: 'answered' }]);
    expect({ loot: await rows(direct, `SELECT who::text, what FROM mallory.loot`), docs: await rows(direct, `SELECT summary FROM alice.docs`) }).toEqual({
      loot: [],
      docs: [{ summary: 'alice summary' }],
    });
    // Each owner sees the jobs of its own tables only.
    expect(await rows(mallory, `SELECT table_name FROM llm.queue ORDER BY id`)).toEqual([{ table_name: 'notes' }]);
  });
});

describe("a table that took the name of a job's dropped table", () => {
  /**
   * Alice's team.notes, enriched, with a row; the schema team is one mallory may create in too. Mallory's takeName
   * replaces the table, once alice has dropped it, by one of hers whose code runs as whoever plans or updates it: an
   * index expression's immutable call, which PostgreSQL evaluates as it loads the index for planning, and a statement
   * trigger, which an UPDATE fires before it tests its WHERE. ranAs lists whom it ran as, mallory aside.
   */
  async function sharedSchema() {
    const { name, direct, alice, mallory } = await aliceAndMallory();
    await direct.query(`CREATE SCHEMA team; GRANT USAGE, CREATE ON SCHEMA team TO trust_user, password_user`);
    await alice.query(`CREATE TABLE team.notes (id int PRIMARY KEY, body text, summary text)`);
    await alice.query(`CREATE TRIGGER enrich AFTER INSERT OR UPDATE ON team.notes FOR EACH ROW EXECUTE FUNCTION llm.call('Summarize: {body}', 'summary', 'model=llm')`);
    await alice.query(`INSERT INTO team.notes VALUES (1, 'alice private text', NULL)`);
    await mallory.query(`GRANT USAGE ON SCHEMA mallory TO PUBLIC;
                         CREATE TABLE mallory.ran_as (who name); GRANT INSERT ON mallory.ran_as TO PUBLIC;
                         CREATE FUNCTION mallory.record() RETURNS int LANGUAGE sql VOLATILE AS 'INSERT INTO mallory.ran_as VALUES (current_user) RETURNING 0';
                         CREATE FUNCTION mallory.zero() RETURNS int LANGUAGE plpgsql IMMUTABLE AS 'BEGIN RETURN mallory.record(); END';
                         CREATE FUNCTION mallory.each() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN PERFORM mallory.record(); RETURN NULL; END'`);
    const takeName = async () => {
      await alice.query(`DROP TABLE team.notes`);
      await mallory.query(`CREATE TABLE team.notes (id int PRIMARY KEY, body text, summary text);
                           CREATE INDEX ON team.notes ((id OPERATOR(pg_catalog.+) mallory.zero()));
                           CREATE TRIGGER each BEFORE UPDATE ON team.notes FOR EACH STATEMENT EXECUTE FUNCTION mallory.each();
                           GRANT SELECT, UPDATE ON team.notes TO PUBLIC`);
    };
    const ranAs = async () => (await rows(mallory, `SELECT DISTINCT who::text FROM mallory.ran_as WHERE who <> 'password_user'`)).map((row) => row.who);
    return { name, direct, takeName, ranAs };
  }

  it("is not planned by the owner's worker checking the job: the job is skipped, mallory's code never runs as alice", async () => {
    const { name, direct, takeName, ranAs } = await sharedSchema();
    await takeName();
    alicesWorker(name);
    await expect.poll(unfinished(direct), EVENTUALLY).toBe(0);
    expect(await rows(direct, `SELECT status, last_error FROM llm.queue`)).toEqual([
      { status: 'skipped', last_error: 'skipped before asking the model: its table no longer exists' },
    ]);
    expect(await ranAs()).toEqual([]);
    expect(prompts()).toEqual([]);
  });

  it("is not planned or updated by the owner's worker writing the answer back, when taken while the model was asked", async () => {
    const { name, direct, takeName, ranAs } = await sharedSchema();
    let answer!: () => void;
    shared.fake.script({ kind: 'reply', answer: () => 'alice answer', hold: new Promise<void>((resolve) => (answer = resolve)) });
    alicesWorker(name);
    await expect.poll(() => prompts(), EVENTUALLY).toEqual(['Summarize: alice private text']);
    await takeName();
    answer();
    await expect.poll(unfinished(direct), EVENTUALLY).toBe(0);
    expect(await rows(direct, `SELECT status FROM llm.queue`)).toEqual([{ status: 'skipped' }]);
    expect(await ranAs()).toEqual([]);
  });
});

describe("the worker's own SQL in the owner's session", () => {
  it("calls no function or operator another role put first in the owner's search_path, answering a job that failed once", async () => {
    const { name, direct, alice } = await aliceAndMallory();
    const workerCalls = await plantHostileOverloads(direct, name, 'trust_user');
    // Not retried by the provider layer: the job's attempt fails, and its retry is scheduled.
    shared.fake.script({ kind: 'error', status: 401, message: 'bad key' }, { kind: 'answer', content: 'second try' });
    await alice.query(`INSERT INTO alice.docs VALUES (1, 'hello', NULL, 0)`);
    alicesWorker(name);
    await expect.poll(() => rows(alice, `SELECT summary FROM alice.docs`), EVENTUALLY).toEqual([{ summary: 'second try' }]);
    expect(await rows(direct, `SELECT attempts, status FROM llm.queue`)).toEqual([{ attempts: 2, status: 'done' }]);
    expect(await workerCalls()).toEqual([]);
  });
});
