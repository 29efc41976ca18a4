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
  return { direct, alice, mallory, own };
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
