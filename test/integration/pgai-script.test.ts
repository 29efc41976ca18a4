// A pgai user's script, run by psql through the proxy as it ran against a database with pgai: install, keys set
// as pgai's documentation sets them, then the model and chunking functions, one after another.

import { describe, expect, it } from 'vitest';
import { fakeEmbedding } from '../support/fake-provider.js';
import { freshDatabase } from '../support/database.js';
import { fakeRoot, pgaiSuite } from '../support/pgai.js';
import { psql } from '../support/psql.js';

const suite = pgaiSuite();

describe("a pgai user's script through psql", () => {
  it('installs, sets its keys, and calls the functions', async () => {
    const { name } = await freshDatabase();
    suite.fake.requests.length = 0;
    // Every request takes the next behaviour; the embedding's own answer is computed from its input.
    suite.fake.script({ kind: 'answer', content: 'embedding' }, { kind: 'answer', content: 'Paris' }, { kind: 'answer', content: 'Bonjour' });
    const script = `
      CREATE EXTENSION IF NOT EXISTS ai CASCADE;
      SELECT set_config('ai.openai_api_key', 'sk-script-0123456789', false) IS NOT NULL AS set_config;
      SET ai.anthropic_api_key = 'sk-ant-script-0123456789';
      SET ai.openai_base_url = '${suite.fake.baseUrl}';
      SELECT set_config('ai.ollama_host', '${fakeRoot(suite.fake)}', false) IS NOT NULL;
      SELECT ai.openai_embed('text-embedding-3-small', 'the purple elephant');
      SELECT ai.openai_chat_complete('gpt-4o-mini', jsonb_build_array(jsonb_build_object('role', 'user', 'content', 'Capital of France?')))->'choices'->0->'message'->>'content';
      SELECT ai.anthropic_generate('claude-test', '[{"role": "user", "content": "Hello"}]', base_url => '${fakeRoot(suite.fake)}')->'content'->0->>'text';
      SELECT ai.ollama_generate('llama3', 'why is the sky blue?')->>'response';
      SELECT count(*) FROM ai.chunk_text_recursively(repeat('word ', 100), chunk_size => 50, chunk_overlap => 10);
    `;
    const result = await psql([], { port: suite.proxy.port, database: name, input: script });
    expect(result.stderr).toBe('');
    expect(result.stdout.split('\n').filter((line) => line !== '')).toEqual([
      'CREATE EXTENSION',
      't',
      'SET',
      'SET',
      't',
      `{${fakeEmbedding('the purple elephant').join(',')}}`,
      'Paris',
      'Bonjour',
      'generated: why is the sky blue?',
      '13',
    ]);
    expect(suite.fake.requests.map((request) => request.authorization ?? request.headers['x-api-key'] ?? 'none')).toEqual([
      'Bearer sk-script-0123456789',
      'Bearer sk-script-0123456789',
      'sk-ant-script-0123456789',
      'none',
    ]);
  });
});
