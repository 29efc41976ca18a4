// Hostile review of the vectorizer catalog (review23): what mallory (password_user), writing rows of
// _pg_llm_catalog.pg_llm_vectorizers herself, can do to alice's (trust_user) ai.create_vectorizer. Asserts the safe behaviour.

import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { clientOf, pgAiSuite } from '../support/pg-ai.js';
import { alicesTable } from '../support/vectorizer.js';

const suite = pgAiSuite();

const rows = async (client: pg.Client, sql: string) => (await client.query(sql)).rows;

/** alicesTable, and mallory's table mallory.notes with a vectorizer, whose id is `own`. */
async function mallorysVectorizer() {
  const { name, direct, alice } = await alicesTable(suite.proxy);
  await direct.query(`CREATE SCHEMA mallory AUTHORIZATION password_user`);
  const mallory = await clientOf(suite.proxy, name, 'password');
  await mallory.query(`CREATE TABLE mallory.notes (id int PRIMARY KEY, body text)`);
  const own = (await rows(mallory, `SELECT ai.create_vectorizer('mallory.notes', loading => ai.loading_column('body'), embedding => ai.embedding_openai('m', 3)) AS id`))[0].id;
  return { name, direct, alice, mallory, own };
}

describe("the vectorizers' ids", () => {
  it("cannot be taken ahead of alice's ai.create_vectorizer by rows mallory inserts with ids of her choosing", async () => {
    const { alice, mallory, own } = await mallorysVectorizer();
    // Copies of her own row (her table, her queue), under the next hundred ids the sequence will hand out.
    const squatted = mallory.query(
      `INSERT INTO _pg_llm_catalog.pg_llm_vectorizers (id, name, owner, source_schema, source_table, source_pk, trigger_name, queue_schema, queue_table, queue_failed_table, config)
       SELECT ${own} + n, 'squat_' || n, owner, source_schema, source_table, source_pk, trigger_name, queue_schema, queue_table, queue_failed_table, config
         FROM _pg_llm_catalog.pg_llm_vectorizers, generate_series(1, 100) AS n WHERE id = ${own}`,
    );
    await expect(squatted).rejects.toMatchObject({ code: '42501', message: expect.stringContaining('was not drawn by this session') });
    // Safe: alice's vectorizer is created, whatever ids mallory's rows hold.
    const created = alice.query(`SELECT ai.create_vectorizer('alice.docs'::regclass, loading => ai.loading_column('body'), embedding => ai.embedding_openai('m', 3)) AS id`);
    await expect(created).resolves.toMatchObject({ rowCount: 1 });
    expect(await rows(alice, `SELECT count(*)::int AS n FROM ai.vectorizer`)).toEqual([{ n: 1 }]);
  });

  it("are drawn again from 1 once a role has drawn them all, passing over the ids vectorizers hold (review40)", async () => {
    const { direct, alice, mallory, own } = await mallorysVectorizer();
    expect(own).toBe(1);
    // Drawing 2^31 ids takes mallory about 20 minutes of nextval; the test starts her at the last few.
    await direct.query(`SELECT setval('_pg_llm_catalog.pg_llm_vectorizer_id_seq', 2147483645)`);
    await mallory.query(`SELECT nextval('_pg_llm_catalog.pg_llm_vectorizer_id_seq') FROM generate_series(1, 2)`);
    const created = await rows(alice, `SELECT ai.create_vectorizer('alice.docs'::regclass, loading => ai.loading_column('body'), embedding => ai.embedding_openai('m', 3)) AS id`);
    // Safe: 1 is mallory's vectorizer's (a row alice cannot see), so alice's takes 2.
    expect(created).toEqual([{ id: 2 }]);
    expect(await rows(alice, `SELECT id FROM ai.vectorizer`)).toEqual([{ id: 2 }]);
  });
});

describe("a vectorizer's config, which the worker reads at each look", () => {
  const padded = `UPDATE _pg_llm_catalog.pg_llm_vectorizers SET config = config || jsonb_build_object('pad', repeat('x', 2 * 1024 * 1024))`;

  it('cannot be made bigger than 1 MiB by its owner while the vectorizer is enabled (review40)', async () => {
    const { mallory } = await mallorysVectorizer();
    await expect(mallory.query(padded)).rejects.toMatchObject({ code: '23514', message: expect.stringContaining('pg_llm_vectorizers_read_size') });
    await mallory.query(`UPDATE _pg_llm_catalog.pg_llm_vectorizers SET config = config || '{"small": true}'`);
  });

  it('already bigger in a catalog ALTER EXTENSION upgrades, leaves its vectorizer disabled', async () => {
    const { name, direct, mallory, own } = await mallorysVectorizer();
    await direct.query(`ALTER TABLE _pg_llm_catalog.pg_llm_vectorizers DROP CONSTRAINT pg_llm_vectorizers_read_size`);
    await direct.query(padded);
    await direct.query(`DELETE FROM _pg_llm_catalog.migrations WHERE name >= '0034'`);
    await (await clientOf(suite.proxy, name)).query('ALTER EXTENSION ai UPDATE');
    expect(await rows(direct, `SELECT id, disabled FROM _pg_llm_catalog.pg_llm_vectorizers`)).toEqual([{ id: own, disabled: true }]);
    await expect(mallory.query(`UPDATE _pg_llm_catalog.pg_llm_vectorizers SET disabled = false`)).rejects.toMatchObject({ code: '23514' });
  });
});
