// ai.vectorizer_embed through the proxy, against the fake provider: a text embedded by the model of an embedding
// config, of a vectorizer by id and by name, as pgai's calls ai.openai_embed or ai.voyageai_embed, with the caller's
// keys and servers; a vectorizer the caller cannot see gives NULL, as in pgai. The server and key name another
// role's vectorizer chose are used only for a caller that trusts that role.

import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { EVENT_LOOP_JSON } from '../../src/json-structure.js';
import { afterThisTest } from '../support/database.js';
import { fakeEmbedding, startFakeProvider } from '../support/fake-provider.js';
import { clientOf, pgAiSuite } from '../support/pg-ai.js';
import { fakeRoot } from '../support/pgai.js';
import { roles } from '../support/roles.js';
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
    for (const implementation of ['litellm', 'constructor']) {
      await expect(alice.query(`SELECT ai.vectorizer_embed('{"implementation": "${implementation}"}'::jsonb, 'x')`)).rejects.toMatchObject({
        code: '22023',
        message: 'unsupported embedding implementation',
      });
    }
  });

  it("sends the caller's key and text where another role's vectorizer says only when the caller trusts that role", async () => {
    const hers = await startFakeProvider();
    afterThisTest(() => hers.close());
    const [member, auditor] = await roles('member', 'auditor');
    const { name, direct, alice } = await alicesTable(suite.proxy);
    const create = (vectorizer: string, embedding: string) =>
      alice.query(`SELECT ai.create_vectorizer('alice.docs'::regclass, name => '${vectorizer}', destination => ai.destination_table('${vectorizer}'),
                     loading => ai.loading_column('body'), embedding => ${embedding})`);
    await create('on_her_server', `ai.embedding_openai('text-embedding-3-small', 4, base_url => '${hers.baseUrl}')`);
    await create('her_key_name', `ai.embedding_openai('text-embedding-3-small', 4, api_key_name => 'team_key')`);
    await create('on_her_ollama', `ai.embedding_ollama('nomic', 4, base_url => '${fakeRoot(hers)}')`);
    await create('plain', `ai.embedding_openai('text-embedding-3-small', 4)`);
    const [id] = await rows(alice, `SELECT id FROM ai.vectorizer WHERE name = 'on_her_server'`);

    // A session of the superuser, or of a role it takes first (the session's calls keep the role they start with),
    // with keys and a server of its own.
    const session = async (role?: string) => {
      const client = await clientOf(suite.proxy, name);
      if (role) await client.query(`SET ROLE ${role}`);
      await client.query(`SET ai.openai_api_key = '${KEY}'; SET ai.team_key = 'sk-team-0123456789'; SET ai.openai_base_url = '${suite.fake.baseUrl}'`);
      return client;
    };
    // The superuser sees every vectorizer.
    const admin = await session();
    suite.fake.requests.length = 0;
    for (const vectorizer of ["'on_her_server'", String(id!.id), "'her_key_name'", "'on_her_ollama'"]) {
      await expect(admin.query(`SELECT ai.vectorizer_embed(${vectorizer}, 'confidential merger')`)).rejects.toMatchObject({
        code: '42501',
        message: expect.stringContaining('role "trust_user"'),
        hint: expect.stringMatching(/ai\.(openai|ollama)_embed/),
      });
    }
    expect(hers.requests).toEqual([]);
    expect(embeddingRequests()).toEqual([]);
    // One that chooses neither embeds with the caller's own server and key.
    expect(await rows(admin, `SELECT ai.vectorizer_embed('plain', 'animals') AS v`)).toEqual([{ v: fakeEmbedding('animals') }]);
    expect(embeddingRequests().map((request) => request.authorization)).toEqual([`Bearer ${KEY}`]);

    // Alice's choices are hers to use, and a role with her rights trusts them as she does; a key the session handed the
    // proxy goes to the vectorizer's server only once the client named it itself: the config may have been written by
    // any code that ran in her name, another role's view among them (review W2).
    await alice.query(`SET ai.openai_api_key = 'sk-alice-0123456789'`);
    const unnamed = { code: '42501', message: expect.stringContaining('goes only to a server the session named itself') };
    await expect(alice.query(`SELECT ai.vectorizer_embed('on_her_server', 'animals') AS v`)).rejects.toMatchObject(unnamed);
    await alice.query(`SET ai.openai_base_url = '${hers.baseUrl}'`);
    expect(await rows(alice, `SELECT ai.vectorizer_embed('on_her_server', 'animals') AS v`)).toEqual([{ v: fakeEmbedding('animals') }]);
    // So with a key under the config's key name, which her session named for OpenAI (creating the vectorizer); in
    // another session it must name it again.
    await alice.query(`SET ai.team_key = 'sk-team-alice-0123456789'`);
    expect(await rows(alice, `SELECT ai.vectorizer_embed('her_key_name', 'animals') AS v`)).toEqual([{ v: fakeEmbedding('animals') }]);
    const again = await clientOf(suite.proxy, name, 'trust');
    await again.query(`SET ai.team_key = 'sk-team-alice-0123456789'; SET ai.openai_base_url = '${hers.baseUrl}'`);
    await expect(again.query(`SELECT ai.vectorizer_embed('her_key_name', 'animals')`)).rejects.toMatchObject({ code: '42501', message: expect.stringContaining('ai.team_key goes only to an API') });
    await direct.query(`GRANT trust_user TO ${member}`);
    const memberSession = await session(member);
    await memberSession.query(`SET ai.openai_base_url = '${hers.baseUrl}'`);
    expect(await rows(memberSession, `SELECT ai.vectorizer_embed('on_her_server', 'animals') AS v`)).toEqual([{ v: fakeEmbedding('animals') }]);
    expect(hers.requests.map((request) => request.authorization)).toEqual(['Bearer sk-alice-0123456789', 'Bearer sk-team-alice-0123456789', `Bearer ${KEY}`]);

    // So does an admin those of the catalog's owner.
    await direct.query(`INSERT INTO _pg_llm_catalog.pg_llm_config VALUES ('admin_role', '${auditor}') ON CONFLICT (name) DO UPDATE SET value = excluded.value`);
    await admin.query(`CREATE TABLE public.notes (id int PRIMARY KEY, body text)`);
    await admin.query(`SELECT ai.create_vectorizer('public.notes'::regclass, loading => ai.loading_column('body'),
                         embedding => ai.embedding_openai('text-embedding-3-small', 4, base_url => '${hers.baseUrl}'))`);
    const auditorSession = await session(auditor);
    await auditorSession.query(`SET ai.openai_base_url = '${hers.baseUrl}'`);
    expect(await rows(auditorSession, `SELECT ai.vectorizer_embed('public_notes_embedding_store', 'animals') AS v`)).toEqual([{ v: fakeEmbedding('animals') }]);
    expect(hers.requests).toHaveLength(4);
  });

  it("refuses a vectorizer whose embedding config is bigger than the proxy reads, before the server sends it", async () => {
    const { alice } = await alicesTable(suite.proxy);
    await alice.query(`SELECT ai.create_vectorizer('alice.docs'::regclass, loading => ai.loading_column('body'), embedding => ai.embedding_openai('text-embedding-3-small', 4))`);
    await alice.query(`SET ai.openai_api_key = '${KEY}'; SET ai.openai_base_url = '${suite.fake.baseUrl}'`);
    // Its owner may write a config of any size once the vectorizer is disabled (0034_vectorizer_read_size.sql).
    await alice.query(`SELECT ai.disable_vectorizer_schedule(1)`);
    await alice.query(`UPDATE _pg_llm_catalog.pg_llm_vectorizers SET config = jsonb_set(config, '{embedding,pad}', to_jsonb(repeat('x', 2 * 1024 * 1024)))`);
    suite.fake.requests.length = 0;
    // Before, the config was read whole and parsed, and the text embedded.
    await expect(alice.query(`SELECT ai.vectorizer_embed(1, 'animals')`)).rejects.toMatchObject({
      code: '54000',
      message: 'the embedding config of vectorizer "alice_docs_embedding_store" is larger than the proxy reads (1048576 bytes as JSON text)',
      hint: expect.stringContaining('ai.vectorizer_embed(config'),
    });
    expect(embeddingRequests()).toEqual([]);
    expect(await rows(alice, `SELECT ai.vectorizer_embed(ai.embedding_openai('text-embedding-3-small', 4), 'animals') AS v`)).toEqual([{ v: fakeEmbedding('animals') }]);
  });

  it('refuses a vectorizer whose embedding config, under that size, holds more arrays than the proxy parses', async () => {
    const { alice } = await alicesTable(suite.proxy);
    await alice.query(`SELECT ai.create_vectorizer('alice.docs'::regclass, loading => ai.loading_column('body'), embedding => ai.embedding_openai('text-embedding-3-small', 4))`);
    await alice.query(`SET ai.openai_api_key = '${KEY}'; SET ai.openai_base_url = '${suite.fake.baseUrl}'`);
    await alice.query(`SELECT ai.disable_vectorizer_schedule(1)`);
    const pad = `[${Array(EVENT_LOOP_JSON.containers).fill('[]').join(',')}]`;
    await alice.query(`UPDATE _pg_llm_catalog.pg_llm_vectorizers SET config = jsonb_set(config, '{embedding,pad}', $1::jsonb)`, [pad]);
    suite.fake.requests.length = 0;
    await expect(alice.query(`SELECT ai.vectorizer_embed(1, 'animals')`)).rejects.toMatchObject({
      code: '54000',
      message: `the embedding config of vectorizer "alice_docs_embedding_store" read from the catalog has more than ${EVENT_LOOP_JSON.containers} arrays and objects, more than the proxy parses`,
    });
    expect(embeddingRequests()).toEqual([]);
  });
});
