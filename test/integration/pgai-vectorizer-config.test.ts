// pgai's vectorizer configuration builders: real functions in schema ai, returning the jsonb objects pgai's return
// (written down from pgai's own functions run on PostgreSQL), through the proxy and on a direct connection alike.

import { describe, expect, it } from 'vitest';
import { freshDatabase } from '../support/database.js';
import { clientOf, pgAiSuite } from '../support/pg-ai.js';

const suite = pgAiSuite();

/** Each call, and what pgai's own function returns for it. */
const CASES: Array<[string, unknown]> = [
  [`ai.loading_column('body')`, { retries: 6, column_name: 'body', config_type: 'loading', implementation: 'column' }],
  [`ai.embedding_openai('text-embedding-3-small', 768)`, { model: 'text-embedding-3-small', dimensions: 768, config_type: 'embedding', api_key_name: 'OPENAI_API_KEY', implementation: 'openai' }],
  [
    `ai.embedding_openai('m', 3, chat_user => 'u', api_key_name => 'K', base_url => 'http://x')`,
    { user: 'u', model: 'm', base_url: 'http://x', dimensions: 3, config_type: 'embedding', api_key_name: 'K', implementation: 'openai' },
  ],
  [`ai.embedding_ollama('nomic', 768, options => '{"a":1}', keep_alive => '5m')`, { model: 'nomic', options: { a: 1 }, dimensions: 768, keep_alive: '5m', config_type: 'embedding', implementation: 'ollama' }],
  [`ai.embedding_voyageai('voyage-3', 1024)`, { model: 'voyage-3', dimensions: 1024, input_type: 'document', config_type: 'embedding', api_key_name: 'VOYAGE_API_KEY', implementation: 'voyageai' }],
  [
    `ai.chunking_recursive_character_text_splitter()`,
    { chunk_size: 800, separators: ['\n\n', '\n', '.', '?', '!', ' ', ''], config_type: 'chunking', chunk_overlap: 400, implementation: 'recursive_character_text_splitter', is_separator_regex: false },
  ],
  [`ai.chunking_character_text_splitter(128, 10)`, { separator: '\n\n', chunk_size: 128, config_type: 'chunking', chunk_overlap: 10, implementation: 'character_text_splitter', is_separator_regex: false }],
  [`ai.chunking_none()`, { config_type: 'chunking', implementation: 'none' }],
  [`ai.formatting_python_template()`, { template: '$chunk', config_type: 'formatting', implementation: 'python_template' }],
  [`ai.formatting_python_template('$title: $chunk')`, { template: '$title: $chunk', config_type: 'formatting', implementation: 'python_template' }],
  [`ai.destination_table()`, { config_type: 'destination', implementation: 'table' }],
  [`ai.destination_table('docs_emb')`, { config_type: 'destination', destination: 'docs_emb', implementation: 'table' }],
  [`ai.destination_column('emb')`, { config_type: 'destination', implementation: 'column', embedding_column: 'emb' }],
  [`ai.indexing_none()`, { config_type: 'indexing', implementation: 'none' }],
  [`ai.indexing_default()`, { config_type: 'indexing', implementation: 'default' }],
  [`ai.indexing_diskann()`, { min_rows: 100000, config_type: 'indexing', implementation: 'diskann', create_when_queue_empty: true }],
  [`ai.indexing_hnsw()`, { opclass: 'vector_cosine_ops', min_rows: 100000, config_type: 'indexing', implementation: 'hnsw', create_when_queue_empty: true }],
  [`ai.scheduling_none()`, { config_type: 'scheduling', implementation: 'none' }],
  [`ai.scheduling_default()`, { config_type: 'scheduling', implementation: 'default' }],
  [`ai.scheduling_timescaledb()`, { config_type: 'scheduling', implementation: 'timescaledb', schedule_interval: '00:05:00' }],
  [`ai.processing_default()`, { config_type: 'processing', implementation: 'default' }],
  [`ai.processing_default(10, 2)`, { batch_size: 10, concurrency: 2, config_type: 'processing', implementation: 'default' }],
  [`ai.parsing_auto()`, { config_type: 'parsing', implementation: 'auto' }],
  [`ai.parsing_none()`, { config_type: 'parsing', implementation: 'none' }],
];

describe("pgai's vectorizer configuration builders", () => {
  it("return pgai's objects, through the proxy and without it", async () => {
    const { name, client: direct } = await freshDatabase();
    const client = await clientOf(suite.proxy, name);
    await client.query('CREATE EXTENSION ai');
    const sql = `SELECT ${CASES.map(([call], i) => `${call} AS c${i}`).join(', ')}`;
    const expected = Object.fromEntries(CASES.map(([, value], i) => [`c${i}`, value]));
    expect((await client.query(sql)).rows[0]).toEqual(expected);
    expect((await direct.query(sql)).rows[0]).toEqual(expected);
    // Usable where a stub would not be: inside a function body the server runs.
    await direct.query(`DO $$ BEGIN PERFORM ai.chunking_none(); END $$`);
  });

  it("refuses what pgai's refuse", async () => {
    const { name } = await freshDatabase();
    const client = await clientOf(suite.proxy, name);
    await client.query('CREATE EXTENSION ai');
    await expect(client.query(`SELECT ai.embedding_voyageai('v', 1, input_type => 'bad')`)).rejects.toMatchObject({ code: '22023', message: 'invalid input_type for voyage ai "bad"' });
  });
});
