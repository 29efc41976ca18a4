// ai.vectorizer_embed through the proxy, against the fake provider: a text embedded by the model of an embedding
// config, of a vectorizer by id and by name, as pgai's calls ai.openai_embed or ai.voyageai_embed, with the caller's
// keys and servers; a vectorizer the caller cannot see gives NULL, as in pgai.

import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { fakeEmbedding } from '../support/fake-provider.js';
import { clientOf, pgAiSuite } from '../support/pg-ai.js';
import { alicesTable } from '../support/vectorizer.js';

const suite = pgAiSuite();
const KEY = 'sk-query-0123456789';

const rows = async (client: pg.Client, sql: string) => (await client.query(sql)).rows;
const embeddingRequests = () => suite.fake.requests.filter((request) => request.path.endsWith('/embeddings'));

describe('ai.vectorizer_embed', () => {
  it("embeds a text with a vectorizer's model, by id, by name and by config, with the caller's key and server", async () => {
    const { name, alice } = await alicesTable(suite.proxy);
    await alice.query(`SELECT ai.create_vectorizer('alice.docs'::regclass, loading => ai.loading_column('body'),
                         embedding => ai.embedding_openai('text-embedding-3-small', 4, chat_user => 'alice'))`);
    await alice.query(`SET ai.openai_api_key = '${KEY}'; SET ai.openai_base_url = '${suite.fake.baseUrl}'`);
    suite.fake.requests.length = 0;
    expect(
      await rows(
        alice,
        `SELECT ai.vectorizer_embed(1, 'animals') AS by_id, ai.vectorizer_embed('alice_docs_embedding_store', 'animals') AS by_name,
                ai.vectorizer_embed(ai.embedding_openai('text-embedding-3-small', 4), 'animals') AS by_config`,
      ),
    ).toEqual([{ by_id: fakeEmbedding('animals'), by_name: fakeEmbedding('animals'), by_config: fakeEmbedding('animals') }]);
    const requests = embeddingRequests();
    expect(requests.map((request) => request.authorization)).toEqual(Array(requests.length).fill(`Bearer ${KEY}`));
    // The vectorizer's config as it is (its user), the builder's without one.
    expect(requests.map((request) => [request.body.model, request.body.dimensions, request.body.user ?? null]).sort()).toEqual(
      expect.arrayContaining([['text-embedding-3-small', 4, 'alice'], ['text-embedding-3-small', 4, null]]),
    );

    // Voyage AI's model embeds a query as a query, unless told otherwise.
    await alice.query(`SET ai.voyage_api_key = '${KEY}'; SET ai.voyageai_base_url = '${suite.fake.baseUrl}'`);
    suite.fake.requests.length = 0;
    await alice.query(`SELECT ai.vectorizer_embed(ai.embedding_voyageai('voyage-3', 4), 'q'), ai.vectorizer_embed(ai.embedding_voyageai('voyage-3', 4), 'd', 'document')`);
    expect(embeddingRequests().map((request) => request.body.input_type).sort()).toEqual(['document', 'query']);

    // Another role sees no vectorizer 1: NULL, without a request.
    const mallory = await clientOf(suite.proxy, name, 'password');
    suite.fake.requests.length = 0;
    expect(await rows(mallory, `SELECT ai.vectorizer_embed(1, 'animals') AS v, ai.vectorizer_embed('alice_docs_embedding_store', 'animals') AS w`)).toEqual([{ v: null, w: null }]);
    expect(embeddingRequests()).toEqual([]);
    await expect(alice.query(`SELECT ai.vectorizer_embed('{"implementation": "litellm"}'::jsonb, 'x')`)).rejects.toMatchObject({
      code: '22023',
      message: 'unsupported embedding implementation',
    });
  });
});
