// The llm.call trigger function and the llm.queue it fills, in PostgreSQL alone (no worker): what a write queues,
// how the jobs of rapid updates are bound, which updates queue nothing, the errors a misdeclared trigger raises at
// its first fire, and the rights it runs with.

import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { migrate, uninstall } from '../../src/catalog/migrate.js';
import { afterThisTest, freshDatabase } from '../support/database.js';

async function catalogDatabase(): Promise<pg.Client> {
  const { client } = await freshDatabase();
  await migrate(client);
  return client;
}

async function queue(client: pg.Client) {
  const { rows } = await client.query(`SELECT table_name, trigger_name, row_pk, prompt_values, prompt, target_columns, model_instance, max_attempts, status FROM llm.queue ORDER BY id`);
  return rows;
}

describe('llm.call', () => {
  it('queues one job per written row, with the prompt resolved and the primary key, and returns at once', async () => {
    const client = await catalogDatabase();
    await client.query(`CREATE TABLE reviews (id int PRIMARY KEY, body text, lang text, sentiment text)`);
    await client.query(`CREATE TRIGGER enrich AFTER INSERT OR UPDATE ON reviews FOR EACH ROW
                        EXECUTE FUNCTION llm.call('Sentiment of {body} ({lang}), {body}', 'sentiment')`);
    await client.query(`INSERT INTO reviews (id, body, lang) VALUES (1, 'I love it {lang}', 'en'), (2, NULL, 'fr')`);
    expect(await queue(client)).toEqual([
      {
        table_name: 'reviews',
        trigger_name: 'enrich',
        row_pk: { id: 1 },
        prompt_values: { body: 'I love it {lang}', lang: 'en' },
        prompt: 'Sentiment of I love it {lang} (en), I love it {lang}',
        target_columns: ['sentiment'],
        model_instance: null,
        max_attempts: 3,
        status: 'pending',
      },
      expect.objectContaining({ row_pk: { id: 2 }, prompt: 'Sentiment of  (fr), ', prompt_values: { body: null, lang: 'fr' } }),
    ]);
  });

  it('takes a composite primary key, several targets, a model instance and max_attempts', async () => {
    const client = await catalogDatabase();
    await client.query(`CREATE TABLE notes (tenant text, n int, body text, summary text, tags text, PRIMARY KEY (tenant, n))`);
    await client.query(`CREATE TRIGGER t AFTER INSERT ON notes FOR EACH ROW EXECUTE FUNCTION llm.call('{body}', 'summary', 'tags', 'model=fast', 'max_attempts=5')`);
    await client.query(`INSERT INTO notes VALUES ('acme', 7, 'hello', NULL, NULL)`);
    expect(await queue(client)).toEqual([
      expect.objectContaining({ row_pk: { tenant: 'acme', n: 7 }, target_columns: ['summary', 'tags'], model_instance: 'fast', max_attempts: 5 }),
    ]);
  });

  it('queues a job for each write of a row, bound to that write and one per (sub)transaction: only the latest matches the row', async () => {
    const client = await catalogDatabase();
    await client.query(`CREATE TABLE docs (id int PRIMARY KEY, body text, summary text)`);
    await client.query(`CREATE TRIGGER s AFTER INSERT OR UPDATE ON docs FOR EACH ROW EXECUTE FUNCTION llm.call('Summarize {body}', 'summary')`);
    await client.query(`INSERT INTO docs VALUES (1, 'one', NULL)`);
    await client.query(`UPDATE docs SET body = 'two' WHERE id = 1`);
    await client.query(`BEGIN; UPDATE docs SET body = 'three' WHERE id = 1; UPDATE docs SET body = 'four' WHERE id = 1; COMMIT`);
    const { rows } = await client.query(`SELECT q.prompt, q.status, q.row_xmin = d.xmin AS current FROM llm.queue q JOIN docs d ON q.row_pk = jsonb_build_object('id', d.id) ORDER BY q.id`);
    expect(rows).toEqual([
      { prompt: 'Summarize one', status: 'pending', current: false },
      { prompt: 'Summarize two', status: 'pending', current: false },
      { prompt: 'Summarize four', status: 'pending', current: true },
    ]);
  });

  it('queues nothing for an update that leaves the prompt\'s columns as they were, such as writing the answer', async () => {
    const client = await catalogDatabase();
    await client.query(`CREATE TABLE docs (id int PRIMARY KEY, body text, summary text, seen int)`);
    await client.query(`CREATE TRIGGER s AFTER INSERT OR UPDATE ON docs FOR EACH ROW EXECUTE FUNCTION llm.call('Summarize {body}', 'summary')`);
    await client.query(`INSERT INTO docs VALUES (1, 'one', NULL, 0)`);
    await client.query(`UPDATE llm.queue SET status = 'done'`);
    await client.query(`UPDATE docs SET summary = 'short', seen = 1, body = 'one' WHERE id = 1`);
    expect((await queue(client)).map((job) => job.status)).toEqual(['done']);
  });

  it('binds a job to the (sub)transaction that wrote its row, and queues it again for a later write that leaves the prompt as it was', async () => {
    const client = await catalogDatabase();
    await client.query(`CREATE TABLE docs (id int PRIMARY KEY, body text, summary text, seen int)`);
    await client.query(`CREATE TRIGGER s AFTER INSERT OR UPDATE ON docs FOR EACH ROW EXECUTE FUNCTION llm.call('Summarize {body}', 'summary')`);
    let inserted = '';
    const bound = async () =>
      (
        await client.query(
          `SELECT q.row_xmin = d.xmin AS bound, q.row_xmin = $1::xid AS first FROM llm.queue q JOIN docs d ON q.row_pk = jsonb_build_object('id', d.id) ORDER BY q.id`,
          [inserted],
        )
      ).rows;
    await client.query('BEGIN');
    await client.query('SAVEPOINT a');
    inserted = (await client.query(`INSERT INTO docs VALUES (1, 'one', NULL, 0) RETURNING xmin::text`)).rows[0].xmin;
    expect(await bound()).toEqual([{ bound: true, first: true }]);
    await client.query(`SAVEPOINT b; UPDATE docs SET seen = 1`);
    expect(await bound()).toEqual([{ bound: false, first: true }, { bound: true, first: false }]);
    await client.query('ROLLBACK TO b');
    expect(await bound()).toEqual([{ bound: true, first: true }]);
    await client.query('COMMIT');
    await client.query(`UPDATE docs SET seen = 2`);
    expect(await bound()).toEqual([{ bound: false, first: true }, { bound: true, first: false }]);
    // Once no job of the row waits (the worker took it), such a write queues nothing: the answer's write-back is one.
    await client.query(`UPDATE llm.queue SET status = 'done'`);
    await client.query(`UPDATE docs SET seen = 3`);
    expect((await queue(client)).map((job) => job.status)).toEqual(['done', 'done']);
  });

  it('wakes listeners with a NOTIFY on pg_llm_queue', async () => {
    const client = await catalogDatabase();
    await client.query(`CREATE TABLE docs (id int PRIMARY KEY, body text, summary text)`);
    await client.query(`CREATE TRIGGER s AFTER INSERT ON docs FOR EACH ROW EXECUTE FUNCTION llm.call('{body}', 'summary')`);
    const notified = new Promise((resolve) => client.once('notification', resolve));
    await client.query('LISTEN pg_llm_queue');
    await client.query(`INSERT INTO docs SELECT g, 'x' FROM generate_series(1, 3) g`);
    await expect(notified).resolves.toMatchObject({ channel: 'pg_llm_queue' });
  });

  it.each([
    ['a table without a primary key', `CREATE TABLE t (a int, body text, result text)`, `'{body}', 'result'`, '55000', /table public\.t has no primary key/],
    ['a placeholder naming no column', `CREATE TABLE t (a int PRIMARY KEY, body text, result text)`, `'{bodyy}', 'result'`, '42703', /placeholder \{bodyy\} names no column/],
    ['a target also read by the prompt', `CREATE TABLE t (a int PRIMARY KEY, body text, result text)`, `'{body} {result}', 'result'`, '22023', /column result is both read by the prompt and written/],
    ['a missing target column', `CREATE TABLE t (a int PRIMARY KEY, body text, result text)`, `'{body}', 'resultt'`, '42703', /target column resultt does not exist/],
    ['a target in the primary key', `CREATE TABLE t (a int PRIMARY KEY, body text, result text)`, `'{body}', 'a'`, '22023', /part of the primary key/],
    ['no target column', `CREATE TABLE t (a int PRIMARY KEY, body text, result text)`, `'{body}', 'model=m'`, '22023', /names no target column/],
    ['a bad max_attempts', `CREATE TABLE t (a int PRIMARY KEY, body text, result text)`, `'{body}', 'result', 'max_attempts=none'`, '22023', /not a valid max_attempts/],
  ])('refuses %s at the first fire, with a clear error', async (_case, table, args, code, message) => {
    const client = await catalogDatabase();
    await client.query(table);
    await client.query(`CREATE TRIGGER bad AFTER INSERT OR UPDATE ON t FOR EACH ROW EXECUTE FUNCTION llm.call(${args})`);
    const error = await client.query(`INSERT INTO t (a, body) VALUES (1, 'x')`).catch((caught: unknown) => caught);
    expect(error).toMatchObject({ code, message: expect.stringMatching(message) });
    expect(await queue(client)).toEqual([]);
  });

  it('refuses to fire BEFORE or FOR EACH STATEMENT', async () => {
    const client = await catalogDatabase();
    await client.query(`CREATE TABLE t (a int PRIMARY KEY, body text, result text)`);
    await client.query(`CREATE TRIGGER bad BEFORE INSERT ON t FOR EACH ROW EXECUTE FUNCTION llm.call('{body}', 'result')`);
    await expect(client.query(`INSERT INTO t VALUES (1, 'x')`)).rejects.toMatchObject({ code: '39P01', hint: expect.stringContaining('AFTER INSERT OR UPDATE') });
  });

  it('is removed with the catalog; without cascade, triggers that use it keep it', async () => {
    const client = await catalogDatabase();
    await client.query(`CREATE TABLE t (a int PRIMARY KEY, body text, result text)`);
    await client.query(`CREATE TRIGGER s AFTER INSERT ON t FOR EACH ROW EXECUTE FUNCTION llm.call('{body}', 'result')`);
    await client.query('BEGIN');
    await expect(uninstall(client, false)).rejects.toMatchObject({ code: '2BP01' });
    await client.query('ROLLBACK');
    await client.query('BEGIN');
    await uninstall(client, true);
    await client.query('COMMIT');
    const { rows } = await client.query(`SELECT to_regnamespace('llm') AS schema, count(*)::int AS triggers FROM pg_trigger WHERE tgname = 's'`);
    expect(rows).toEqual([{ schema: null, triggers: 0 }]);
  });

  it('refuses to install over postgres-llm\'s own llm.queue', async () => {
    const { client } = await freshDatabase();
    await client.query(`CREATE SCHEMA llm; CREATE TABLE llm.queue (id bigint)`);
    await expect(migrate(client)).rejects.toMatchObject({ code: '42P07', hint: expect.stringContaining('cron.unschedule') });
  });
});

describe('llm.call and the rights it runs with', () => {
  /**
   * A NOLOGIN role without rights on the queue, owning the schema mal, as whom `client` then runs: a role that may
   * write its own tables and nothing more. Dropped after the test, with what it owns and what depends on that (a cast).
   */
  async function actAsUnprivilegedRole(client: pg.Client): Promise<string> {
    const role = `mallory_${randomBytes(4).toString('hex')}`;
    await client.query(`CREATE ROLE ${role} NOLOGIN`);
    afterThisTest(async () => {
      await client.query('RESET ROLE');
      await client.query(`DROP OWNED BY ${role} CASCADE`);
      await client.query(`DROP ROLE ${role}`);
    });
    await client.query(`CREATE SCHEMA mal AUTHORIZATION ${role}`);
    await client.query(`SET ROLE ${role}`);
    return role;
  }

  it('lets a role without rights on the queue queue the jobs of its own table', async () => {
    const client = await catalogDatabase();
    await actAsUnprivilegedRole(client);
    await client.query(`CREATE TABLE mal.docs (id int PRIMARY KEY, body text, summary text)`);
    await client.query(`CREATE TRIGGER s AFTER INSERT ON mal.docs FOR EACH ROW EXECUTE FUNCTION llm.call('Summarize {body}', 'summary')`);
    await client.query(`INSERT INTO mal.docs VALUES (1, 'one')`);
    await client.query('RESET ROLE');
    expect(await queue(client)).toEqual([expect.objectContaining({ row_pk: { id: 1 }, prompt: 'Summarize one', status: 'pending' })]);
  });

  it("runs a cast of the row's types to json as the writing role, never with the installer's rights", async () => {
    const client = await catalogDatabase();
    const role = await actAsUnprivilegedRole(client);
    // to_jsonb(NEW) runs this cast: once it ran as the installer, and one INSERT made the role a superuser.
    await client.query(`CREATE TYPE mal.mood AS ENUM ('happy')`);
    await client.query(`CREATE FUNCTION mal.mood_json(mal.mood) RETURNS json LANGUAGE plpgsql AS $$
                        BEGIN EXECUTE 'ALTER ROLE ${role} SUPERUSER'; RETURN to_json($1::text); END $$`);
    await client.query(`CREATE CAST (mal.mood AS json) WITH FUNCTION mal.mood_json(mal.mood)`);
    await client.query(`CREATE TABLE mal.notes (id int PRIMARY KEY, mood mal.mood, reply text)`);
    await client.query(`CREATE TRIGGER reply AFTER INSERT ON mal.notes FOR EACH ROW EXECUTE FUNCTION llm.call('Answer a {mood} note', 'reply')`);
    // As the role itself, the ALTER ROLE fails with PostgreSQL's permission error, and the INSERT with it: either
    // way, what matters is the role's rights afterwards.
    await client.query(`INSERT INTO mal.notes VALUES (1, 'happy')`).catch(() => undefined);
    await client.query('RESET ROLE');
    const { rows } = await client.query(`SELECT rolsuper FROM pg_roles WHERE rolname = $1`, [role]);
    expect(rows).toEqual([{ rolsuper: false }]);
  });

  it("reads values of types that are not built in as their text, so that no cast of theirs runs as the installer (a composite type too)", async () => {
    const client = await catalogDatabase();
    const role = await actAsUnprivilegedRole(client);
    await client.query(`CREATE TYPE mal.mood AS ENUM ('happy', 'sad')`);
    await client.query(`CREATE TYPE mal.point AS (x int, label text)`);
    await client.query(`CREATE DOMAIN mal.doc AS jsonb`);
    await client.query(`CREATE TABLE mal.casts (who name)`);
    await client.query(`CREATE FUNCTION mal.mood_json(mal.mood) RETURNS json LANGUAGE plpgsql AS $$
                        BEGIN INSERT INTO mal.casts VALUES (current_user); RETURN to_json($1::text); END $$`);
    await client.query(`CREATE CAST (mal.mood AS json) WITH FUNCTION mal.mood_json(mal.mood)`);
    await client.query(`CREATE TABLE mal.notes (id int PRIMARY KEY, mood mal.mood, moods mal.mood[], at mal.point, extra mal.doc, n numeric, reply text)`);
    await client.query(`CREATE TRIGGER reply AFTER INSERT OR UPDATE ON mal.notes FOR EACH ROW
                        EXECUTE FUNCTION llm.call('{mood} {moods} {at} {extra} {n}', 'reply')`);
    await client.query(`INSERT INTO mal.notes VALUES (1, 'happy', '{happy,sad}', '(1,"a b")', '{"k": [1]}', 1.50, NULL)`);
    await client.query(`INSERT INTO mal.notes VALUES (2, NULL, NULL, NULL, NULL, NULL, NULL)`);
    expect((await client.query(`SELECT who::text FROM mal.casts`)).rows.every(({ who }) => who === role)).toBe(true);
    await client.query('RESET ROLE');
    expect(await queue(client)).toEqual([
      expect.objectContaining({
        row_pk: { id: 1 },
        prompt_values: { mood: 'happy', moods: '{happy,sad}', at: '(1,"a b")', extra: { k: [1] }, n: 1.5 },
        prompt: 'happy {happy,sad} (1,"a b") {"k": [1]} 1.50',
      }),
      expect.objectContaining({ row_pk: { id: 2 }, prompt_values: { mood: null, moods: null, at: null, extra: null, n: null }, prompt: '    ' }),
    ]);
    // An update compares the old values with the new ones read the same way: a change to the prompt queues a job,
    // the answer's write (with no job waiting) none.
    await client.query(`DELETE FROM _pg_llm_catalog.pg_llm_queue`);
    await client.query(`UPDATE mal.notes SET reply = 'answered'`);
    expect(await queue(client)).toEqual([]);
    await client.query(`UPDATE mal.notes SET at = '(2,x)' WHERE id = 1`);
    expect(await queue(client)).toEqual([expect.objectContaining({ row_pk: { id: 1 }, prompt: 'happy {happy,sad} (2,x) {"k": [1]} 1.50' })]);
  });

  it('has no way into the queue but the trigger firing: not a direct call, not a write of the queue', async () => {
    const client = await catalogDatabase();
    await actAsUnprivilegedRole(client);
    await expect(client.query(`SELECT llm.call()`)).rejects.toMatchObject({ code: '0A000' });
    await expect(client.query(`INSERT INTO _pg_llm_catalog.pg_llm_queue (table_schema, table_name, trigger_name, row_pk, prompt_values, prompt, target_columns)
                               VALUES ('mal', 'docs', 's', '{"id": 1}', '{}', 'p', '{summary}')`)).rejects.toMatchObject({ code: '42501' });
    // No function the role may call adds a job, but llm.call, which PostgreSQL runs only as a trigger.
    const { rows } = await client.query(`SELECT p.oid::regprocedure::text AS function FROM pg_proc p
                                          WHERE p.prosecdef AND pg_catalog.has_function_privilege(p.oid, 'EXECUTE')
                                            AND p.prosrc ~* 'INSERT\\s+INTO\\s+_pg_llm_catalog\\.pg_llm_queue' AND p.oid <> 'llm.call()'::regprocedure`);
    expect(rows).toEqual([]);
  });
});
