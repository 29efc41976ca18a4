// A pgai user's vectorizer script, run by psql through the proxy as docs/pgai.md writes it: install,
// a table with rows, a vectorizer over it; the proxy's worker embeds the rows; then inserts, updates and deletes,
// and a semantic search over the view once the worker has caught up.

import { describe, expect, it } from 'vitest';
import { freshDatabase } from '../support/database.js';
import { pgaiSuite } from '../support/pgai.js';
import { psql } from '../support/psql.js';
import { startWorker } from '../support/worker.js';

const suite = pgaiSuite();
const EVENTUALLY = { timeout: 20_000, interval: 200 };

describe("a pgai user's vectorizer script through psql", () => {
  it('creates a vectorizer, the worker keeps its store in step, and the view answers a semantic search', async () => {
    const { name } = await freshDatabase();
    const run = async (script: string) => {
      const result = await psql(['-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1'], { port: suite.proxy.port, database: name, input: script });
      expect(result.stderr).toBe('');
      return result.stdout.split('\n').filter((line) => line !== '');
    };
    expect(
      await run(`
        CREATE EXTENSION IF NOT EXISTS ai CASCADE;
        CREATE TABLE blog (id int PRIMARY KEY, title text, contents text);
        INSERT INTO blog VALUES (1, 'Elephants', 'The purple elephant sits on a red mushroom.'), (2, 'Cooking', 'Boil the water before the pasta.');
        SELECT ai.create_vectorizer('blog'::regclass,
            loading => ai.loading_column('contents'),
            embedding => ai.embedding_openai('text-embedding-3-small', 768),
            chunking => ai.chunking_recursive_character_text_splitter(800, 400),
            formatting => ai.formatting_python_template('$title: $chunk'));
      `),
    ).toEqual(['1']);
    startWorker(name, {}, { env: { OPENAI_API_KEY: 'sk-worker-0123456789', OPENAI_BASE_URL: suite.fake.baseUrl } });
    const status = () => run(`SELECT name, source_table, view, pending_items FROM ai.vectorizer_status;`);
    await expect.poll(status, EVENTUALLY).toEqual(['public_blog_embedding_store|public.blog|public.blog_embedding|0']);
    await run(`
      INSERT INTO blog VALUES (3, 'Gardens', 'Water the roses at dawn.');
      UPDATE blog SET contents = 'Boil salted water, then the pasta.' WHERE id = 2;
      DELETE FROM blog WHERE id = 1;
    `);
    await expect.poll(() => run(`SELECT id, chunk FROM blog_embedding ORDER BY id;`), EVENTUALLY).toEqual(['2|Boil salted water, then the pasta.', '3|Water the roses at dawn.']);
    expect(
      await run(`
        SET ai.openai_api_key = 'sk-script-0123456789';
        SET ai.openai_base_url = '${suite.fake.baseUrl}';
        SELECT title, chunk FROM blog_embedding
         ORDER BY _pg_llm_catalog.cosine_similarity(embedding, ai.openai_embed('text-embedding-3-small', 'Gardens: Water the roses at dawn.', dimensions => 768)) DESC
         LIMIT 1;
        SELECT ai.drop_vectorizer('public_blog_embedding_store', drop_all => true);
        SELECT count(*) FROM ai.vectorizer;
      `),
    ).toEqual(['Gardens|Water the roses at dawn.', '0']);
  });
});
