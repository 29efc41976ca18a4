// A session's SET ai.<key> and pg_llm.master_key values are held by the proxy, up to 64 of them (held-values.ts); a
// value longer than any key (64 kB) is refused, so no session makes the proxy keep the half gigabyte that 64 values
// of a statement's size (8 MiB) would be. So are the secrets a session writes out in its calls (review31: 64 api_key
// literals of 4 MiB each kept 262 MB in the proxy after their statements had failed).

import { describe, expect, it } from 'vitest';
import { aiDatabase, pgaiSuite } from '../support/pgai.js';
import { heldLive } from '../support/held-memory.js';

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

describe('a secret written out in a call, longer than any key', () => {
  it('is refused with 22023 before the proxy holds it, the session going on; one of 60 kB is held and used', async () => {
    const { client } = await aiDatabase(suite);
    await client.query('CREATE EXTENSION pg_llm');
    const refusal = { code: '22023', message: expect.stringContaining('at most 64 kB') };
    // The call fails (no instance name) only after the proxy took its key in: nothing of it may stay.
    const sqlstate = (i: number): Promise<string> =>
      client.query(`SELECT pg_llm_add_model(false, 'mock', NULL, 'sk-${i}-${'k'.repeat(1024 * 1024)}', '{}')`).then(
        () => 'ok',
        (error: { code: string }) => error.code,
      );
    const first = await sqlstate(-1);
    const before = heldLive();
    const refusals = [];
    for (let i = 0; i < 32; i++) refusals.push(await sqlstate(i));
    expect(heldLive() - before).toBeLessThan(8 * 1024 * 1024);
    expect([first, ...refusals]).toEqual(Array(33).fill('22023'));
    await expect(client.query(`SELECT pg_llm_add_model(false, 'mock', 'm', NULL, '{"api_token": "${'t'.repeat(64 * 1024)}"}')`)).rejects.toMatchObject(refusal);
    await client.query(`SELECT pg_llm_add_model(false, 'mock', 'm', 'sk-${'k'.repeat(60 * 1024)}', '{"mock_response": "held"}')`);
    expect((await client.query(`SELECT pg_llm_chat('m', 'hi') AS answer`)).rows).toEqual([{ answer: 'held' }]);
  }, 120_000);
});
