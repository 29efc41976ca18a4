// Deleting catalog rows now that no ordinary role may DELETE from the catalog (which would let it LOCK a table against
// everyone): through the functions that delete, and by marking a row deleted with plain SQL. Row-level security
// still decides which rows go: alice (trust_user) her own, bob (password_user) none of hers, an admin (md5_user,
// member of admin_role) any role's. Through the proxy, with pg_llm and pgai's API installed.

import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { WORKER_PRIVILEGES } from '../../src/worker/queue.js';
import { freshDatabase } from '../support/database.js';
import { clientOf, pgAiSuite } from '../support/pg-ai.js';
import { roles } from '../support/roles.js';

const suite = pgAiSuite();
const CATALOG = '_pg_llm_catalog';

const one = async (client: pg.Client, sql: string, values: unknown[] = []) => Object.values((await client.query(sql, values)).rows[0] ?? {})[0] as any;

/** One row of each kind a role may delete, written by `client` as `owner` (its schema's name), and their ids. */
async function ownRows(client: pg.Client, owner: string, baseUrl: string) {
  await client.query(`SELECT pg_llm_add_model(false, 'openai_compatible', $1, NULL, $2)`, [`${owner}_model`, JSON.stringify({ model_name: 'm', base_url: baseUrl })]);
  await client.query(`SELECT pg_llm_add_model(false, 'openai_compatible', $1, NULL, $2)`, [`${owner}_spare`, JSON.stringify({ model_name: 'm', base_url: baseUrl })]);
  const session = await one(client, `SELECT pg_llm_create_session()`);
  const spareSession = await one(client, `SELECT pg_llm_create_session()`);
  await client.query(`INSERT INTO ${CATALOG}.pg_llm_session_messages (session_id, role, content) VALUES ($1, 'user', 'hi')`, [session]);
  const document = await one(client, `SELECT pg_llm_add_knowledge($1, 'Some words to keep, and then not.')`, [`${owner} notes`]);
  const vector = await one(client, `SELECT pg_llm_store_vector('docs', 'body', 1, '{1,0,0}')`);
  const report = await one(client, `INSERT INTO ${CATALOG}.pg_llm_reports (sql, report) VALUES ('SELECT 1', '{}') RETURNING id`);
  await client.query(`CREATE TABLE ${owner}.docs (id int PRIMARY KEY, body text)`);
  const vectorizer = await one(client, `SELECT ai.create_vectorizer('${owner}.docs'::regclass, loading => ai.loading_column('body'), embedding => ai.embedding_openai('m', 3))`);
  const error = await one(client, `INSERT INTO ${CATALOG}.pg_llm_vectorizer_errors (id, message) VALUES ($1, 'bad key') RETURNING error_id`, [vectorizer]);
  return { model: `${owner}_model`, spareModel: `${owner}_spare`, session, spareSession, document, vector, report, vectorizer, error };
}
type Rows = Awaited<ReturnType<typeof ownRows>>;

/** Each table's row of `rows` that is still there, as the catalog's owner sees it. */
async function remaining(direct: pg.Client, rows: Rows) {
  const count = (sql: string, value: unknown) => one(direct, `SELECT count(*)::int FROM ${CATALOG}.${sql}`, [value]);
  return {
    model: await count(`pg_llm_models WHERE instance_name = $1`, rows.model),
    spareModel: await count(`pg_llm_models WHERE instance_name = $1`, rows.spareModel),
    session: await count(`pg_llm_sessions WHERE session_id = $1`, rows.session),
    messages: await count(`pg_llm_session_messages WHERE session_id = $1`, rows.session),
    spareSession: await count(`pg_llm_sessions WHERE session_id = $1`, rows.spareSession),
    document: await count(`pg_llm_knowledge_documents WHERE id = $1`, rows.document),
    chunks: (await count(`pg_llm_knowledge_chunks WHERE document_id = $1`, rows.document)) > 0 ? 1 : 0,
    vector: await count(`pg_llm_vectors WHERE id = $1`, rows.vector),
    report: await count(`pg_llm_reports WHERE id = $1`, rows.report),
    vectorizer: await count(`pg_llm_vectorizers WHERE id = $1`, rows.vectorizer),
    error: await count(`pg_llm_vectorizer_errors WHERE error_id = $1`, rows.error),
  };
}
const ALL_THERE = { model: 1, spareModel: 1, session: 1, messages: 1, spareSession: 1, document: 1, chunks: 1, vector: 1, report: 1, vectorizer: 1, error: 1 };

/** The documented way to delete a row: mark it. Resolves to the number of rows deleted. */
async function markDeleted(client: pg.Client, table: string, key: string, value: unknown): Promise<number> {
  return (await client.query(`UPDATE ${CATALOG}.${table} SET deleted = true WHERE ${key} = $1 RETURNING ${key}`, [value])).rowCount ?? 0;
}

async function database() {
  const [admins] = await roles('llm_admins');
  const { name, client: direct } = await freshDatabase();
  const owner = await clientOf(suite.proxy, name);
  await owner.query('CREATE EXTENSION pg_llm');
  await owner.query('CREATE EXTENSION ai');
  await direct.query(`INSERT INTO ${CATALOG}.pg_llm_config VALUES ('admin_role', '${admins}'); GRANT ${admins} TO md5_user`);
  await direct.query(`CREATE SCHEMA alice AUTHORIZATION trust_user; CREATE SCHEMA bob AUTHORIZATION password_user`);
  const alice = await clientOf(suite.proxy, name, 'trust');
  const bob = await clientOf(suite.proxy, name, 'password');
  const admin = await clientOf(suite.proxy, name, 'md5');
  const alices = await ownRows(alice, 'alice', suite.fake.baseUrl);
  const bobs = await ownRows(bob, 'bob', suite.fake.baseUrl);
  return { name, direct, alice, bob, admin, alices, bobs, admins: admins! };
}

describe('deleting catalog rows', () => {
  it("a role deletes none of another role's rows, by the functions or by SQL, and cannot DELETE at all", async () => {
    const { direct, bob, alices, bobs } = await database();
    expect(await one(bob, `SELECT pg_llm_remove_model($1)`, [alices.model])).toBe(false);
    expect(await one(bob, `SELECT pg_llm_delete_session($1)`, [alices.session])).toBe(false);
    await bob.query(`SELECT pg_llm_cleanup_sessions(0)`);
    await expect(bob.query(`SELECT ai.drop_vectorizer($1::int)`, [alices.vectorizer])).rejects.toMatchObject({ code: '42704' });
    expect(await markDeleted(bob, 'pg_llm_models', 'instance_name', alices.spareModel)).toBe(0);
    expect(await markDeleted(bob, 'pg_llm_sessions', 'session_id', alices.spareSession)).toBe(0);
    expect(await markDeleted(bob, 'pg_llm_knowledge_documents', 'id', alices.document)).toBe(0);
    expect(await markDeleted(bob, 'pg_llm_vectors', 'id', alices.vector)).toBe(0);
    expect(await markDeleted(bob, 'pg_llm_reports', 'id', alices.report)).toBe(0);
    expect(await markDeleted(bob, 'pg_llm_vectorizers', 'id', alices.vectorizer)).toBe(0);
    expect(await markDeleted(bob, 'pg_llm_vectorizer_errors', 'error_id', alices.error)).toBe(0);
    expect(await remaining(direct, alices)).toEqual(ALL_THERE);
    // bob's own idle sessions went with his cleanup; nothing else of his.
    expect(await remaining(direct, bobs)).toEqual({ ...ALL_THERE, session: 0, messages: 0, spareSession: 0 });

    for (const table of ['pg_llm_models', 'pg_llm_sessions', 'pg_llm_session_messages', 'pg_llm_knowledge_documents', 'pg_llm_knowledge_chunks', 'pg_llm_vectors', 'pg_llm_reports', 'pg_llm_vectorizers', 'pg_llm_vectorizer_errors']) {
      await expect(bob.query(`DELETE FROM ${CATALOG}.${table}`), table).rejects.toMatchObject({ code: '42501' });
    }
    // Nor can a role have the catalog's deleting trigger function delete for it elsewhere.
    await bob.query(`CREATE TABLE bob.decoy (instance_name text PRIMARY KEY, deleted boolean)`);
    await expect(
      bob.query(`CREATE TRIGGER steal AFTER UPDATE ON bob.decoy FOR EACH ROW EXECUTE FUNCTION ${CATALOG}.delete_marked_row()`),
    ).rejects.toMatchObject({ code: '42501' });
  });

  it('a role deletes its own rows through the functions and by marking them, with what they go with', async () => {
    const { direct, alice, alices, admins } = await database();
    // A registrant keeps the right to remove its model when registering is narrowed to others.
    await direct.query(`INSERT INTO ${CATALOG}.pg_llm_config VALUES ('register_role', '${admins}')`);
    expect(await one(alice, `SELECT pg_llm_remove_model($1)`, [alices.model])).toBe(true);
    expect(await one(alice, `SELECT pg_llm_remove_model($1)`, [alices.model])).toBe(false);
    expect(await markDeleted(alice, 'pg_llm_models', 'instance_name', alices.spareModel)).toBe(1);
    expect(await one(alice, `SELECT pg_llm_delete_session($1)`, [alices.session])).toBe(true);
    expect(await one(alice, `SELECT pg_llm_delete_session($1)`, [alices.session])).toBe(false);
    expect(await markDeleted(alice, 'pg_llm_sessions', 'session_id', alices.spareSession)).toBe(1);
    expect(await markDeleted(alice, 'pg_llm_knowledge_documents', 'id', alices.document)).toBe(1);
    expect(await markDeleted(alice, 'pg_llm_vectors', 'id', alices.vector)).toBe(1);
    expect(await markDeleted(alice, 'pg_llm_reports', 'id', alices.report)).toBe(1);
    expect(await markDeleted(alice, 'pg_llm_vectorizer_errors', 'error_id', alices.error)).toBe(1);
    await alice.query(`SELECT ai.drop_vectorizer($1::int)`, [alices.vectorizer]);
    expect(await remaining(direct, alices)).toEqual(Object.fromEntries(Object.keys(ALL_THERE).map((key) => [key, 0])));
    expect(await one(direct, `SELECT count(*)::int FROM pg_trigger WHERE tgrelid = 'alice.docs'::regclass`)).toBe(0);
    // A row written marked does not stay either.
    await alice.query(`INSERT INTO ${CATALOG}.pg_llm_reports (sql, report, deleted) VALUES ('SELECT 2', '{}', true)`);
    expect(await one(direct, `SELECT count(*)::int FROM ${CATALOG}.pg_llm_reports WHERE role_name = 'trust_user'`)).toBe(0);
  });

  it("an admin deletes any role's rows where the policies let it: all but another role's vectorizer's objects", async () => {
    const { direct, admin, alices, bobs } = await database();
    expect(await one(admin, `SELECT pg_llm_remove_model($1)`, [bobs.model])).toBe(true);
    expect(await markDeleted(admin, 'pg_llm_models', 'instance_name', bobs.spareModel)).toBe(1);
    expect(await one(admin, `SELECT pg_llm_delete_session($1)`, [bobs.session])).toBe(true);
    expect(await markDeleted(admin, 'pg_llm_knowledge_documents', 'id', bobs.document)).toBe(1);
    expect(await markDeleted(admin, 'pg_llm_vectors', 'id', bobs.vector)).toBe(1);
    expect(await markDeleted(admin, 'pg_llm_reports', 'id', bobs.report)).toBe(1);
    expect(await markDeleted(admin, 'pg_llm_vectorizer_errors', 'error_id', bobs.error)).toBe(1);
    // Dropping bob's vectorizer drops his trigger, which takes his table's owner; its row an admin may delete.
    await expect(admin.query(`SELECT ai.drop_vectorizer($1::int)`, [bobs.vectorizer])).rejects.toMatchObject({ code: '42501' });
    expect(await markDeleted(admin, 'pg_llm_vectorizers', 'id', bobs.vectorizer)).toBe(1);
    await admin.query(`SELECT pg_llm_cleanup_sessions(0)`);
    expect(await remaining(direct, bobs)).toEqual(Object.fromEntries(Object.keys(ALL_THERE).map((key) => [key, 0])));
    expect(await remaining(direct, alices)).toEqual({ ...ALL_THERE, session: 0, messages: 0, spareSession: 0 });
  });

  it("a worker's role deletes its own tables' llm.queue jobs by marking them, and no other owner's", async () => {
    const { direct, alice, bob } = await database();
    await direct.query(`GRANT ${WORKER_PRIVILEGES} ON llm.queue TO trust_user, password_user`);
    for (const [client, owner] of [[alice, 'alice'], [bob, 'bob']] as const) {
      await client.query(`CREATE TABLE ${owner}.notes (id int PRIMARY KEY, body text, summary text)`);
      await client.query(`CREATE TRIGGER enrich AFTER INSERT ON ${owner}.notes FOR EACH ROW EXECUTE FUNCTION llm.call('Summarize {body}', 'summary')`);
      await client.query(`INSERT INTO ${owner}.notes VALUES (1, 'one'), (2, 'two')`);
    }
    await direct.query(`UPDATE llm.queue SET status = 'error'`);
    expect((await bob.query(`UPDATE llm.queue SET deleted = true WHERE status = 'error' RETURNING id`)).rowCount).toBe(2);
    await expect(bob.query(`DELETE FROM llm.queue`)).rejects.toMatchObject({ code: '42501' });
    expect((await direct.query(`SELECT table_schema, count(*)::int AS n FROM llm.queue GROUP BY 1`)).rows).toEqual([{ table_schema: 'alice', n: 2 }]);
  });
});
