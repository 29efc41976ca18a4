// What one role's vectorizer may not do to another's: take the names alice's vectorizer will want (its name, its
// store and view), or, through a catalog row it wrote itself, have a role with both their rights drop alice's tables.

import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { clientOf, pgAiSuite } from '../support/pg-ai.js';
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
});
