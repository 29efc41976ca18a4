// A session's SET ai.<key> and pg_llm.master_key values are held by the proxy, up to 64 of them (held-values.ts); a
// value longer than any key (64 kB) is refused, so no session makes the proxy keep the half gigabyte that 64 values
// of a statement's size (8 MiB) would be.

import { describe, expect, it } from 'vitest';
import { aiDatabase, pgaiSuite } from '../support/pgai.js';

const suite = pgaiSuite();

describe('a key setting longer than any key', () => {
  it('is refused with 22023, the session going on; one of 60 kB is held', async () => {
    const { client } = await aiDatabase(suite);
    const tooLong = `sk-${'k'.repeat(64 * 1024)}`;
    const refusal = { code: '22023', message: expect.stringContaining('at most 64 kB') };
    await expect(client.query(`SET ai.openai_api_key = '${tooLong}'`)).rejects.toMatchObject(refusal);
    await expect(client.query(`SELECT set_config('ai.team_key', '${tooLong}', false)`)).rejects.toMatchObject(refusal);
    await expect(client.query(`SET pg_llm.master_key = '${tooLong}'`)).rejects.toMatchObject(refusal);
    expect((await client.query(`SELECT current_setting('ai.openai_api_key', true) AS key`)).rows).toEqual([{ key: null }]);
    await client.query(`SET ai.openai_api_key = 'sk-${'k'.repeat(60 * 1024)}'`);
    expect((await client.query('SHOW ai.openai_api_key')).rows[0]['ai.openai_api_key']).toMatch(/^held by pg_llm proxy /);
  });
});
