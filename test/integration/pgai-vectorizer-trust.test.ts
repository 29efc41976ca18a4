// What one role's vectorizer may not do to another's: take the names alice's vectorizer will want (its name, its
// store and view), or, through a catalog row it wrote itself, have a role with both their rights drop alice's tables,
// or have a role that sees every vectorizer run its code by counting its queue.

import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { clientOf, pgAiSuite } from '../support/pg-ai.js';
import { directAs, roles } from '../support/roles.js';
import { alicesTable } from '../support/vectorizer.js';

const suite = pgAiSuite();

const rows = async (client: pg.Client, sql: string) => (await client.query(sql)).rows;

const ALICES = `SELECT ai.create_vectorizer('alice.docs'::regclass, loading => ai.loading_column('body'), embedding => ai.embedding_openai('m', 3)) AS id`;

/** alice's table (with a row) and vectorizer-less mallory (password_user), who owns mallory.notes. */
async function aliceAndMallory() {
  const table = await alicesTable(suite.proxy);
  await table.alice.query(`INSERT INTO alice.docs VALUES (1, 'one', 'first body')`);
  await table.direct.query(`CREATE SCHEMA mallory AUTHORIZATION password_user`);
  const mallory = await clientOf(suite.proxy, table.name, 'password');
  await mallory.query(`CREATE TABLE mallory.notes (id int PRIMARY KEY, body text)`);
  return { ...table, mallory };
}

const malloryCreates = (mallory: pg.Client, table: string, more: string) =>
  mallory.query(`SELECT ai.create_vectorizer('${table}'::regclass, loading => ai.loading_column('body'), embedding => ai.embedding_openai('m', 3)${more}) AS id`);

describe("one role's vectorizer against another's", () => {
  it("cannot take the name alice's vectorizer will have: names are each owner's own", async () => {
    const { alice, mallory, direct } = await aliceAndMallory();
    await malloryCreates(mallory, 'mallory.notes', `, name => 'alice_docs_embedding_store'`);
    expect(await rows(alice, ALICES)).toEqual([{ id: 2 }]);
    expect(await rows(alice, `SELECT id, name FROM ai.vectorizer`)).toEqual([{ id: 2, name: 'alice_docs_embedding_store' }]);
    expect(await rows(mallory, `SELECT id, name FROM ai.vectorizer`)).toEqual([{ id: 1, name: 'alice_docs_embedding_store' }]);
    // By name, each reaches its own.
    expect(await rows(alice, `SELECT ai.vectorizer_queue_pending('alice_docs_embedding_store', true) AS n`)).toEqual([{ n: '1' }]);
    expect(await rows(mallory, `SELECT ai.vectorizer_queue_pending('alice_docs_embedding_store', true) AS n`)).toEqual([{ n: '0' }]);
    await alice.query(`SELECT ai.disable_vectorizer_schedule('alice_docs_embedding_store')`);
    expect(await rows(direct, `SELECT id, disabled FROM _pg_llm_catalog.pg_llm_vectorizers ORDER BY id`)).toEqual([
      { id: 1, disabled: false },
      { id: 2, disabled: true },
    ]);
    // A role that sees both (the catalog's admin) is told to use the id.
    const admin = await clientOf(suite.proxy, (await rows(direct, `SELECT current_database() AS name`))[0].name);
    await expect(admin.query(`SELECT ai.drop_vectorizer('alice_docs_embedding_store')`)).rejects.toMatchObject({ code: '42725' });
    // The same owner still cannot have two of one name.
    await expect(malloryCreates(mallory, 'mallory.notes', `, name => 'alice_docs_embedding_store', destination => ai.destination_table('other')`)).rejects.toMatchObject({
      code: '42710',
    });
  });

  it("cannot take the store and view names of alice's table in a schema both may create in", async () => {
    const { direct, alice, mallory } = await aliceAndMallory();
    await direct.query(`CREATE SCHEMA team; GRANT USAGE, CREATE ON SCHEMA team TO trust_user, password_user`);
    await alice.query(`CREATE TABLE team.blog (id int PRIMARY KEY, body text)`);
    await mallory.query(`CREATE TABLE team.notes (id int PRIMARY KEY, body text)`);
    const squat = { code: '42501', message: 'the destination team.blog_embedding_store takes the name of the embeddings of team.blog, a table of another role' };
    await expect(malloryCreates(mallory, 'team.notes', `, destination => ai.destination_table('blog_embedding')`)).rejects.toMatchObject(squat);
    await expect(malloryCreates(mallory, 'team.notes', `, destination => ai.destination_table(target_table => 'blog_embedding_store', view_name => 'mine')`)).rejects.toMatchObject(squat);
    await expect(malloryCreates(mallory, 'team.notes', `, destination => ai.destination_table(target_table => 'mine', view_name => 'blog_embedding')`)).rejects.toMatchObject({
      code: '42501',
      message: 'the destination team.blog_embedding takes the name of the embeddings of team.blog, a table of another role',
    });
    // Her own table's names, and names of no table's, are hers to take.
    expect(await rows(mallory, `SELECT relname FROM pg_class WHERE relnamespace = 'team'::regnamespace AND relkind IN ('r', 'v') ORDER BY 1`)).toEqual([{ relname: 'blog' }, { relname: 'notes' }]);
    await malloryCreates(mallory, 'team.notes', '');
    await malloryCreates(mallory, 'mallory.notes', `, destination => ai.destination_table(target_schema => 'team', view_schema => 'team', destination => 'elsewhere')`);
    const id = (await rows(alice, `SELECT ai.create_vectorizer('team.blog', loading => ai.loading_column('body'), embedding => ai.embedding_openai('m', 3)) AS id`))[0].id;
    expect(await rows(alice, `SELECT target_table, view FROM ai.vectorizer_status WHERE id = ${id}`)).toEqual([{ target_table: 'team.blog_embedding_store', view: 'team.blog_embedding' }]);
  });

  it("cannot have a role with both their rights drop alice's tables by dropping a vectorizer whose row names them", async () => {
    const { name, direct, alice, mallory } = await aliceAndMallory();
    await alice.query(ALICES);
    const own = (await rows(mallory, `SELECT ai.create_vectorizer('mallory.notes', loading => ai.loading_column('body'), embedding => ai.embedding_openai('m', 3)) AS id`))[0].id;
    // A row of mallory's own, written to name alice's objects as its queues, store and view.
    const { id } = (
      await rows(
        mallory,
        `INSERT INTO _pg_llm_catalog.pg_llm_vectorizers (name, owner, source_schema, source_table, source_pk, trigger_name, queue_schema, queue_table, queue_failed_table, config)
         SELECT 'forged', owner, source_schema, source_table, source_pk, trigger_name, 'alice', '_vectorizer_q_1', '_vectorizer_q_failed_1',
                jsonb_set(config, '{destination}', '{"target_schema": "alice", "target_table": "docs_embedding_store", "view_schema": "alice", "view_name": "docs_embedding"}')
           FROM _pg_llm_catalog.pg_llm_vectorizers WHERE id = ${own} RETURNING id`,
      )
    )[0];
    // carol (md5_user) leads both.
    await direct.query(`GRANT trust_user, password_user TO md5_user`);
    const carol = await clientOf(suite.proxy, name, 'md5');
    await carol.query(`SELECT ai.drop_vectorizer(${id}, drop_all => true)`);
    expect(await rows(alice, `SELECT relname FROM pg_class WHERE relnamespace = 'alice'::regnamespace AND relkind IN ('r', 'v') ORDER BY 1`)).toEqual([
      { relname: '_vectorizer_q_1' },
      { relname: '_vectorizer_q_failed_1' },
      { relname: 'docs' },
      { relname: 'docs_embedding' },
      { relname: 'docs_embedding_store' },
    ]);
    expect(await rows(alice, `SELECT id FROM ai.vectorizer`)).toEqual([{ id: 1 }]);
  });

  it('cannot have its code run by the roles that count its queue: a superuser or an admin reading ai.vectorizer_status', async () => {
    const { name, direct, mallory } = await aliceAndMallory();
    // An admin of no other role (md5_user may lead mallory's role, as an earlier test made it).
    const [admins, auditor] = await roles('llm_admins', 'auditor');
    await direct.query(`INSERT INTO _pg_llm_catalog.pg_llm_config VALUES ('admin_role', '${admins}'); GRANT ${admins} TO ${auditor}`);
    const { id } = (await malloryCreates(mallory, 'mallory.notes', '')).rows[0];
    const queue = `mallory._vectorizer_q_${id}`;
    // What mallory's code leaves behind: the roles it ran as.
    await mallory.query(`GRANT USAGE ON SCHEMA mallory TO PUBLIC;
                         CREATE TABLE mallory.ran_as (who name); GRANT INSERT ON mallory.ran_as TO PUBLIC;
                         CREATE FUNCTION mallory.run() RETURNS boolean LANGUAGE sql AS 'INSERT INTO mallory.ran_as VALUES (current_user) RETURNING true';
                         GRANT SELECT ON ${queue} TO PUBLIC`);
    const ranAs = async () => (await rows(mallory, `SELECT DISTINCT who::text FROM mallory.ran_as WHERE who <> 'password_user' ORDER BY 1`)).map((row) => row.who);
    const pending = async (reader: pg.Client) => rows(reader, `SELECT pending_items FROM ai.vectorizer_status WHERE id = ${id}`);
    const admin = await directAs(name, auditor!);
    const superuser = await clientOf(suite.proxy, name);

    // A policy on the queue, which runs as whoever reads it without bypassing row security: an admin.
    await mallory.query(`INSERT INTO mallory.notes VALUES (1, 'queued')`);
    await mallory.query(`ALTER TABLE ${queue} ENABLE ROW LEVEL SECURITY; CREATE POLICY run ON ${queue} USING (mallory.run())`);
    const byAdmin = [await pending(admin), (await rows(admin, `SELECT ai.vectorizer_queue_pending(${id}, true) AS n`))[0]];
    expect(await ranAs()).toEqual([]);
    expect(byAdmin).toEqual([[{ pending_items: null }], { n: null }]);
    // The owner's own count runs no policy of its table (row security does not apply to it).
    expect(await pending(mallory)).toEqual([{ pending_items: '1' }]);

    // The queue made a view, whose functions run as whoever reads it: a superuser too.
    await mallory.query(`DROP TABLE ${queue}; CREATE VIEW ${queue} AS SELECT WHERE mallory.run(); GRANT SELECT ON ${queue} TO PUBLIC`);
    const bySuperuser = [await pending(superuser), (await rows(superuser, `SELECT ai.vectorizer_queue_pending(${id}) AS n`))[0]];
    expect(await ranAs()).toEqual([]);
    expect(bySuperuser).toEqual([[{ pending_items: null }], { n: null }]);

    // A plain table again, with an index whose expression calls her code: PostgreSQL evaluates its immutable call as
    // it loads the index for planning, as whoever plans a query of the table. Nor does a superuser's call of the
    // catalog's index builder (which counts the queue first) plan it.
    await mallory.query(`DROP VIEW ${queue}; CREATE TABLE ${queue} (id int); GRANT SELECT ON ${queue} TO PUBLIC;
                         CREATE FUNCTION mallory.folded() RETURNS int LANGUAGE plpgsql IMMUTABLE AS 'BEGIN PERFORM mallory.run(); RETURN 0; END';
                         CREATE INDEX ON ${queue} ((id OPERATOR(pg_catalog.+) mallory.folded()));
                         UPDATE _pg_llm_catalog.pg_llm_vectorizers SET config = config || '{"indexing": {"implementation": "hnsw", "min_rows": 0}}' WHERE id = ${id}`);
    const planned = await pending(superuser);
    expect(await ranAs()).toEqual([]);
    expect(planned).toEqual([{ pending_items: null }]);
    expect(await rows(superuser, `SELECT _pg_llm_catalog.vectorizer_index(${id}) AS built`)).toEqual([{ built: false }]);
    expect(await ranAs()).toEqual([]);
    // Its owner counts its own queue.
    expect(await pending(mallory)).toEqual([{ pending_items: '0' }]);
  });
});
