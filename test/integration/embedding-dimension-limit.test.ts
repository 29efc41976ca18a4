// No embedding of more than pgvector's 16,000 dimensions reaches a session, from any server (one any role may name
// in client_config, or a model's): a bigger one is refused with 54000 before it is written out for the client, which
// for ten million numbers held every session of the proxy for seconds. The session goes on, and 16,000 still work.
// The fake answers as many numbers as `dimensions` asks for: base64 for OpenAI's pgai functions (85 kB, parsed in
// a worker thread), float JSON of zeros for an openai_compatible model (32 kB, parsed on the event loop).

import type pg from 'pg';
import { describe, expect, it } from 'vitest';
import { databaseWithModel } from '../support/models.js';
import { aiDatabase, pgaiSuite, pointedAt } from '../support/pgai.js';

const suite = pgaiSuite();
const OVER_LIMIT = { code: '54000', message: expect.stringContaining('16001 dimensions, over the 16000'), hint: expect.stringContaining('pgvector') };

const dimensionsOf = async (client: pg.Client, sql: string, parameters: unknown[] = []): Promise<unknown> =>
  (await client.query(`SELECT pg_catalog.array_length((${sql})::real[], 1) AS n`, parameters)).rows[0].n;

describe('an embedding over 16,000 dimensions', () => {
  it('from a pgai call is refused with 54000 in the parser thread; the session goes on, and 16,000 work', async () => {
    const { client } = await aiDatabase(suite);
    await client.query(pointedAt(suite.fake));
    const embed = (dimensions: number) => dimensionsOf(client, `ai.openai_embed('text-embedding-3-small', 'x', api_key => 'sk-own-0123456789', dimensions => ${dimensions})`);
    await expect(embed(16_001)).rejects.toMatchObject(OVER_LIMIT);
    expect(await embed(16_000)).toBe(16_000);
  });

  it("from a model whose embedding_dimensions asks for it is refused with 54000 on the event loop's path too", async () => {
    const over = await databaseWithModel(suite.proxy, suite.fake, 'openai_compatible', { embedding_dimensions: 16_001 });
    await expect(dimensionsOf(over.client, `pg_llm_get_embedding('llm', 'x')`)).rejects.toMatchObject(OVER_LIMIT);
    const within = await databaseWithModel(suite.proxy, suite.fake, 'openai_compatible', { embedding_dimensions: 16_000 });
    expect(await dimensionsOf(within.client, `pg_llm_get_embedding('llm', 'x')`)).toBe(16_000);
  });
});
