// ai.create_vectorizer through the proxy: pgai's store table, view and queue, the trigger that keeps the queue, who
// may create and see a vectorizer, and the management functions. The worker that empties the queue is tested in
// pgai-vectorizer-worker.test.ts.

import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { clientOf, pgAiSuite } from '../support/pg-ai.js';
import { alicesTable } from '../support/vectorizer.js';

const suite = pgAiSuite();

const rows = async (client: pg.Client, sql: string) => (await client.query(sql)).rows;
const columns = (client: pg.Client, relation: string) =>
  rows(client, `SELECT attname AS name, format_type(atttypid, atttypmod) AS type FROM pg_attribute WHERE attrelid = '${relation}'::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum`);

const CREATE = `SELECT ai.create_vectorizer('alice.docs'::regclass,
                  loading => ai.loading_column('body'),
                  embedding => ai.embedding_openai('text-embedding-3-small', 3),
                  chunking => ai.chunking_recursive_character_text_splitter(40, 0)) AS id`;

/** alice's table with two rows. */
async function alicesDocs() {
  const table = await alicesTable(suite.proxy);
  await table.alice.query(`INSERT INTO alice.docs VALUES (1, 'one', 'first body'), (2, 'two', 'second body')`);
  return table;
}

describe('ai.create_vectorizer', () => {
  it("creates pgai's store, view and queue, queues the existing rows, and records the vectorizer", async () => {
    const { direct, alice } = await alicesDocs();
    expect(await rows(alice, CREATE)).toEqual([{ id: 1 }]);
    expect(await columns(alice, 'alice.docs_embedding_store')).toEqual([
      { name: 'embedding_uuid', type: 'uuid' },
      { name: 'id', type: 'integer' },
      { name: 'chunk_seq', type: 'integer' },
      { name: 'chunk', type: 'text' },
      // No pgvector in this database: the embeddings are real[], as the proxy's other vectors are.
      { name: 'embedding', type: 'real[]' },
    ]);
    expect((await columns(alice, 'alice.docs_embedding')).map((column) => column.name)).toEqual(['embedding_uuid', 'chunk_seq', 'chunk', 'embedding', 'id', 'title', 'body']);
    // Queues go beside the source: only the installer may create in schema ai.
    expect(await rows(alice, `SELECT id FROM alice._vectorizer_q_1 ORDER BY id`)).toEqual([{ id: 1 }, { id: 2 }]);
    expect(await rows(alice, `SELECT id, name, source_schema, source_table, queue_schema, queue_table, queue_failed_table, config -> 'destination' AS destination FROM ai.vectorizer`)).toEqual([
      {
        id: 1,
        name: 'alice_docs_embedding_store',
        source_schema: 'alice',
        source_table: 'docs',
        queue_schema: 'alice',
        queue_table: '_vectorizer_q_1',
        queue_failed_table: '_vectorizer_q_failed_1',
        destination: { implementation: 'table', config_type: 'destination', target_schema: 'alice', target_table: 'docs_embedding_store', view_schema: 'alice', view_name: 'docs_embedding' },
      },
    ]);
    expect(await rows(alice, `SELECT name, source_table, target_table, view, pending_items, disabled FROM ai.vectorizer_status`)).toEqual([
      { name: 'alice_docs_embedding_store', source_table: 'alice.docs', target_table: 'alice.docs_embedding_store', view: 'alice.docs_embedding', pending_items: '2', disabled: false },
    ]);
    // Everything is the table owner's.
    expect(await rows(direct, `SELECT DISTINCT pg_get_userbyid(relowner) AS owner FROM pg_class WHERE relnamespace = 'alice'::regnamespace`)).toEqual([{ owner: 'trust_user' }]);
  });

  it('queues every insert and change, removes the chunks of a deleted row, and counts the queue', async () => {
    const { alice } = await alicesDocs();
    await alice.query(CREATE);
    await alice.query(`DELETE FROM alice._vectorizer_q_1`);
    await alice.query(`INSERT INTO alice.docs VALUES (3, 'three', 'third body')`);
    await alice.query(`UPDATE alice.docs SET title = 'uno' WHERE id = 1`);
    await alice.query(`UPDATE alice.docs SET title = title WHERE id = 2`);
    expect(await rows(alice, `SELECT id FROM alice._vectorizer_q_1 ORDER BY id`)).toEqual([{ id: 1 }, { id: 3 }]);
    expect(await rows(alice, `SELECT ai.vectorizer_queue_pending(1) AS n, ai.vectorizer_queue_pending('alice_docs_embedding_store', exact_count => true) AS exact`)).toEqual([{ n: '2', exact: '2' }]);
    await alice.query(`INSERT INTO alice.docs_embedding_store (id, chunk_seq, chunk, embedding) VALUES (2, 0, 'second body', '{1,0,0}'), (3, 0, 'third body', '{0,1,0}')`);
    await alice.query(`DELETE FROM alice.docs WHERE id = 2`);
    await alice.query(`UPDATE alice.docs SET id = 4 WHERE id = 3`);
    expect(await rows(alice, `SELECT id FROM alice.docs_embedding_store`)).toEqual([]);
    expect(await rows(alice, `SELECT id FROM alice._vectorizer_q_1 ORDER BY id`)).toEqual([{ id: 1 }, { id: 3 }, { id: 4 }]);
    await alice.query(`TRUNCATE alice.docs`);
    expect(await rows(alice, `SELECT ai.vectorizer_queue_pending(1, true) AS n`)).toEqual([{ n: '0' }]);
  });

  it("lets only the table's owner create one; any writer of the table queues its rows; others neither see nor drop it", async () => {
    const { name, direct, alice } = await alicesDocs();
    const mallory = await clientOf(suite.proxy, name, 'password');
    await alice.query(`GRANT USAGE ON SCHEMA alice TO password_user; GRANT INSERT ON alice.docs TO password_user`);
    await expect(mallory.query(CREATE)).rejects.toMatchObject({ code: '42501', message: 'only the owner of alice.docs (or a member of its role) may create a vectorizer on it' });
    await alice.query(CREATE);
    await mallory.query(`INSERT INTO alice.docs VALUES (9, 'nine', 'by another writer')`);
    expect(await rows(direct, `SELECT id FROM alice._vectorizer_q_1 ORDER BY id`)).toEqual([{ id: 1 }, { id: 2 }, { id: 9 }]);
    await expect(mallory.query(`SELECT * FROM alice._vectorizer_q_1`)).rejects.toMatchObject({ code: '42501' });
    expect(await rows(mallory, `SELECT * FROM ai.vectorizer`)).toEqual([]);
    expect(await rows(mallory, `SELECT * FROM ai.vectorizer_status`)).toEqual([]);
    await expect(mallory.query(`SELECT ai.drop_vectorizer(1)`)).rejects.toMatchObject({ code: '42704' });
    await expect(mallory.query(`UPDATE _pg_llm_catalog.pg_llm_vectorizers SET disabled = true`)).resolves.toMatchObject({ rowCount: 0 });
    // Nor can another role record a vectorizer of alice's table in the catalog by hand.
    await expect(
      mallory.query(`INSERT INTO _pg_llm_catalog.pg_llm_vectorizers (name, owner, source_schema, source_table, source_pk, trigger_name, queue_schema, queue_table, queue_failed_table, config)
                     VALUES ('forged', 'trust_user'::regrole, 'alice', 'docs', '[]', 't', 'alice', 'q', 'f', '{}')`),
    ).rejects.toMatchObject({ code: '42501' });
  });

  it("refuses what pgai refuses, and what the proxy does not serve, before creating anything", async () => {
    const { alice } = await alicesDocs();
    const create = (extra: string) => alice.query(`SELECT ai.create_vectorizer('alice.docs', loading => ai.loading_column('body'), embedding => ai.embedding_openai('m', 3)${extra})`);
    await expect(alice.query(`SELECT ai.create_vectorizer('alice.docs', loading => ai.loading_column('body'))`)).rejects.toMatchObject({ code: '22004', message: 'embedding configuration is required' });
    await expect(create(`, chunking => ai.embedding_openai('m', 3)`)).rejects.toMatchObject({ code: '22023', message: 'invalid config_type for chunking config' });
    await expect(create(`, destination => ai.destination_column('emb')`)).rejects.toMatchObject({ code: '22023', message: 'chunking must be none for column destination' });
    await expect(create(`, indexing => ai.indexing_hnsw()`)).rejects.toMatchObject({ code: '0A000', message: 'indexing_hnsw needs pgvector, which this database does not have' });
    await expect(create(`, indexing => ai.indexing_hnsw(), scheduling => ai.scheduling_none()`)).rejects.toMatchObject({
      code: '22023',
      message: 'automatic indexing is not supported without scheduling. set indexing=>ai.indexing_none() when scheduling=>ai.scheduling_none()',
    });
    await expect(alice.query(`SELECT ai.create_vectorizer('alice.docs', loading => ai.loading_column('nope'), embedding => ai.embedding_openai('m', 3))`)).rejects.toMatchObject({ code: '42703' });
    await expect(create(`, formatting => ai.formatting_python_template('$title')`)).rejects.toMatchObject({ message: 'template must contain $chunk placeholder' });
    await alice.query(`CREATE TABLE alice.nokey (body text)`);
    await expect(alice.query(`SELECT ai.create_vectorizer('alice.nokey', loading => ai.loading_column('body'), embedding => ai.embedding_openai('m', 3))`)).rejects.toMatchObject({ code: '55000' });
    expect(await rows(alice, `SELECT relname FROM pg_class WHERE relnamespace = 'alice'::regnamespace AND relkind IN ('r', 'v') ORDER BY 1`)).toEqual([{ relname: 'docs' }, { relname: 'nokey' }]);
    await alice.query(CREATE);
    await expect(alice.query(CREATE)).rejects.toMatchObject({ code: '42710', message: 'a vectorizer named alice_docs_embedding_store already exists.' });
    expect(await rows(alice, `SELECT ai.create_vectorizer('alice.docs', loading => ai.loading_column('body'), embedding => ai.embedding_openai('m', 3), if_not_exists => true) AS id`)).toEqual([{ id: 1 }]);
  });

  it("sets a vectorizer's scheduling and indexing with ai.set_scheduling, checked as at creation, and refuses what is not served", async () => {
    const { alice } = await alicesDocs();
    await alice.query(CREATE);
    const { config } = (await rows(alice, `SELECT ai.set_scheduling(1, scheduling => ai.scheduling_timescaledb(interval '10 minutes')) AS config`))[0];
    expect(config).toMatchObject({ scheduling: { implementation: 'timescaledb', schedule_interval: '00:10:00' }, indexing: { implementation: 'none' }, loading: { column_name: 'body' } });
    expect(await rows(alice, `SELECT config -> 'scheduling' ->> 'implementation' AS scheduling FROM ai.vectorizer`)).toEqual([{ scheduling: 'timescaledb' }]);
    await expect(alice.query(`SELECT ai.set_scheduling(1, indexing => ai.indexing_hnsw())`)).rejects.toMatchObject({ code: '0A000', message: 'indexing_hnsw needs pgvector, which this database does not have' });
    await expect(alice.query(`SELECT ai.set_scheduling(1, scheduling => ai.chunking_none())`)).rejects.toMatchObject({ code: '22023', message: 'invalid config_type for scheduling config' });
    await expect(alice.query(`SELECT ai.set_scheduling(1, scheduling => '{"config_type": "scheduling", "implementation": "cron"}')`)).rejects.toMatchObject({
      code: '0A000',
      message: "scheduling implementation 'cron' is not served by the proxy",
    });
    await expect(alice.query(`SELECT ai.set_scheduling(7)`)).rejects.toMatchObject({ code: '42704', message: 'vectorizer 7 does not exist' });
  });

  it("takes pgai's loading_uri, and refuses what of it is not served before creating anything", async () => {
    const { alice } = await alicesDocs();
    const create = (loading: string, extra = '') => alice.query(`SELECT ai.create_vectorizer('alice.docs', loading => ${loading}, embedding => ai.embedding_openai('m', 3)${extra}) AS id`);
    await expect(create(`ai.loading_uri('body', aws_role_arn => 'arn:aws:iam::1:role/r')`)).rejects.toMatchObject({
      code: '0A000',
      message: "loading_uri's aws_role_arn is not served by the proxy: its worker fetches http and https URIs only",
    });
    await expect(create(`ai.loading_uri('body')`, `, parsing => ai.parsing_none()`)).rejects.toMatchObject({ code: '22023', message: 'Cannot chunk Document with parsing_none, use parsing_auto or parsing_pymupdf' });
    expect(await rows(alice, `SELECT count(*)::int AS n FROM ai.vectorizer`)).toEqual([{ n: 0 }]);
    expect((await create(`ai.loading_uri('body')`)).rows).toEqual([{ id: 1 }]);
    expect(await rows(alice, `SELECT config -> 'loading' AS loading FROM ai.vectorizer`)).toEqual([{ loading: { implementation: 'uri', config_type: 'loading', column_name: 'body', retries: 6 } }]);
  });

  it('drops a vectorizer by id or name, its store and view only with drop_all', async () => {
    const { alice } = await alicesDocs();
    await alice.query(CREATE);
    await alice.query(`SELECT ai.disable_vectorizer_schedule(1)`);
    expect(await rows(alice, `SELECT disabled FROM ai.vectorizer_status`)).toEqual([{ disabled: true }]);
    await alice.query(`SELECT ai.enable_vectorizer_schedule('alice_docs_embedding_store')`);
    expect(await rows(alice, `SELECT disabled FROM ai.vectorizer_status`)).toEqual([{ disabled: false }]);
    await alice.query(`SELECT ai.drop_vectorizer('alice_docs_embedding_store')`);
    const left = `SELECT relname FROM pg_class WHERE relnamespace = 'alice'::regnamespace AND relkind IN ('r', 'v') ORDER BY 1`;
    expect(await rows(alice, left)).toEqual([{ relname: 'docs' }, { relname: 'docs_embedding' }, { relname: 'docs_embedding_store' }]);
    expect(await rows(alice, `SELECT tgname FROM pg_trigger WHERE tgrelid = 'alice.docs'::regclass`)).toEqual([]);
    await alice.query(`DROP VIEW alice.docs_embedding; DROP TABLE alice.docs_embedding_store`);
    const id = (await rows(alice, CREATE))[0].id;
    await alice.query(`SELECT ai.drop_vectorizer(${id}, drop_all => true)`);
    expect(await rows(alice, left)).toEqual([{ relname: 'docs' }]);
    expect(await rows(alice, `SELECT * FROM ai.vectorizer`)).toEqual([]);
  });
});
