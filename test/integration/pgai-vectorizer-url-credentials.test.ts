// A vectorizer's embedding base_url may carry no user, password or query (review S-E): the catalog refuses a row
// with one however its config was built (0035_vectorizer_url_without_credentials.sql), without the URL in its error,
// and neither the worker nor ai.vectorizer_embed uses one that got past it. The forms the proxy reads in a statement
// it refuses before the server sees them: test/integration/secrets-in-server-log.test.ts.

import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { clientOf, pgAiSuite } from '../support/pg-ai.js';
import { alicesTable } from '../support/vectorizer.js';
import { startWorker } from '../support/worker.js';

const suite = pgAiSuite();
const SECRET = 'sk-url-secret-0123456789abcdef';
const EVENTUALLY = { timeout: 20_000, interval: 100 };

const rows = async (client: pg.Client, sql: string, values?: unknown[]) => (await client.query(sql, values)).rows;
const create = (embedding: string) => `SELECT ai.create_vectorizer('alice.docs'::regclass, loading => ai.loading_column('body'), embedding => ${embedding})`;

/** The catalog's refusal, which names the vectorizer and not its URL. */
const refusedByCatalog = {
  code: '22023',
  message: 'the embedding base_url of vectorizer "alice_docs_embedding_store" cannot carry a user, a password or a query',
};

async function refusal(promise: Promise<unknown>): Promise<pg.DatabaseError> {
  const error = (await promise.then(() => undefined, (caught: unknown) => caught)) as pg.DatabaseError;
  expect(error).toBeInstanceOf(Error);
  return error;
}

describe("a vectorizer's embedding base_url with credentials", () => {
  it('is refused by the catalog however the config was built, and its error does not show the URL', async () => {
    const { alice } = await alicesTable(suite.proxy);
    await alice.query(`CREATE FUNCTION alice.url(u text) RETURNS jsonb LANGUAGE sql AS $$ SELECT ai.embedding_openai('m', 4, base_url => u) $$`);
    const hidden = `convert_from(decode('${Buffer.from(`http://127.0.0.1:9/v1?key=${SECRET}`).toString('hex')}', 'hex'), 'UTF8')`;
    const built = [
      // Computed where the proxy cannot read it: chr(63) is '?', and the user's own function.
      create(`ai.embedding_openai('m', 4, base_url => 'http://127.0.0.1:9/v1' || chr(63) || 'key=${SECRET}')`),
      create(`ai.embedding_ollama('m', 4) || jsonb_build_object('base_url', ${hidden})`),
      create(`alice.url(${hidden})`),
    ];
    for (const sql of built) {
      const error = await refusal(alice.query(sql));
      expect(error, sql).toMatchObject(refusedByCatalog);
      expect(JSON.stringify({ ...error, message: error.message })).not.toContain(SECRET);
    }
    // A bound jsonb, and dynamic SQL.
    const config = { implementation: 'openai', config_type: 'embedding', model: 'm', dimensions: 4, api_key_name: 'OPENAI_API_KEY', base_url: `http://u:${SECRET}@127.0.0.1:9/v1` };
    expect(await refusal(alice.query(create('$1::jsonb'), [JSON.stringify(config)]))).toMatchObject(refusedByCatalog);
    const dynamic = `DO $$ BEGIN EXECUTE 'SELECT ai.create_vectorizer(''alice.docs''::regclass, loading => ai.loading_column(''body''),
      embedding => ai.embedding_ollama(''m'', 4, base_url => ''127.0.0.1:9/'' || chr(63) || ''${SECRET}''))'; END $$`;
    expect(await refusal(alice.query(dynamic))).toMatchObject(refusedByCatalog);
    expect(await rows(alice, `SELECT count(*)::int AS n FROM _pg_llm_catalog.pg_llm_vectorizers`)).toEqual([{ n: 0 }]);

    // Nor can its owner write one into a stored config afterwards, directly.
    await alice.query(create(`ai.embedding_openai('m', 4, base_url => 'http://127.0.0.1:9/v1')`));
    expect(
      await refusal(alice.query(`UPDATE _pg_llm_catalog.pg_llm_vectorizers SET config = jsonb_set(config, '{embedding,base_url}', to_jsonb('http://127.0.0.1:9/v1' || chr(63) || 'k=${SECRET}'))`)),
    ).toMatchObject(refusedByCatalog);
    expect(await rows(alice, `SELECT config -> 'embedding' ->> 'base_url' AS url FROM _pg_llm_catalog.pg_llm_vectorizers`)).toEqual([{ url: 'http://127.0.0.1:9/v1' }]);
  });

  it('that got past the catalog is used neither by the worker nor by ai.vectorizer_embed, and is not enabled again', async () => {
    const { name, direct, alice } = await alicesTable(suite.proxy);
    await alice.query(create(`ai.embedding_openai('text-embedding-3-small', 4, base_url => '${suite.fake.baseUrl}')`));
    // As a catalog stored before 0035 has it: that migration disabled such rows; here one is left enabled.
    await direct.query(`ALTER TABLE _pg_llm_catalog.pg_llm_vectorizers DISABLE TRIGGER url_without_credentials;
      UPDATE _pg_llm_catalog.pg_llm_vectorizers SET config = jsonb_set(config, '{embedding,base_url}', to_jsonb('${suite.fake.baseUrl}?key=${SECRET}'::text));
      ALTER TABLE _pg_llm_catalog.pg_llm_vectorizers ENABLE TRIGGER url_without_credentials`);
    await alice.query(`INSERT INTO alice.docs VALUES (1, 'one', 'a body to embed')`);
    suite.fake.requests.length = 0;
    await alice.query(`SET ai.openai_api_key = 'sk-caller-0123456789'`);
    const embedRefusal = {
      code: '22023',
      message: `the embedding base_url of vectorizer "alice_docs_embedding_store" carries a user, a password or a query, which a vectorizer's config may not`,
    };
    expect(await refusal(alice.query(`SELECT ai.vectorizer_embed(1, 'animals')`))).toMatchObject(embedRefusal);
    startWorker(name, {}, { env: { OPENAI_API_KEY: 'sk-worker-0123456789', OPENAI_BASE_URL: suite.fake.baseUrl } }, 'trust_user');
    await expect.poll(async () => rows(alice, `SELECT message FROM ai.vectorizer_errors`), EVENTUALLY).toEqual([{ message: embedRefusal.message }]);
    expect(suite.fake.requests).toEqual([]);

    // Disabled, it stays disabled while its URL has an @ or a ?.
    await alice.query(`UPDATE _pg_llm_catalog.pg_llm_vectorizers SET disabled = true`);
    expect(await refusal(alice.query(`UPDATE _pg_llm_catalog.pg_llm_vectorizers SET disabled = false`))).toMatchObject(refusedByCatalog);
    await alice.query(`UPDATE _pg_llm_catalog.pg_llm_vectorizers SET disabled = false, config = jsonb_set(config, '{embedding,base_url}', to_jsonb('${suite.fake.baseUrl}'::text))`);
  });

  it("stored by an earlier version, is disabled by the catalog's upgrade and its credentials taken out", async () => {
    const { name, direct, alice } = await alicesTable(suite.proxy);
    await alice.query(create(`ai.embedding_ollama('m', 4, base_url => '127.0.0.1:9')`));
    await direct.query(`DROP TRIGGER url_without_credentials ON _pg_llm_catalog.pg_llm_vectorizers;
      UPDATE _pg_llm_catalog.pg_llm_vectorizers SET config = jsonb_set(config, '{embedding,base_url}', to_jsonb('http://u:${SECRET}@127.0.0.1:9/x?key=${SECRET}'::text));
      DELETE FROM _pg_llm_catalog.migrations WHERE name >= '0035'`);
    await (await clientOf(suite.proxy, name)).query('ALTER EXTENSION ai UPDATE');
    expect(await rows(direct, `SELECT disabled, config -> 'embedding' ->> 'base_url' AS url FROM _pg_llm_catalog.pg_llm_vectorizers`)).toEqual([{ disabled: true, url: 'http://127.0.0.1:9/x' }]);
  });
});
