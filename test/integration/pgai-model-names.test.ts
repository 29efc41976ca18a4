// Review24: what one role's calls leave behind in the proxy's memory, which every role shares, is bounded
// however many distinct models it names.

import { describe, expect, it } from 'vitest';
import { heldLive } from '../support/held-memory.js';
import { aiDatabase, pgaiSuite } from '../support/pgai.js';

const suite = pgaiSuite();
const MIB = 1024 ** 2;

describe("a role naming ever new models in pgai's calls", () => {
  it('leaves the proxy holding no more than its caches keep, however many it names', { timeout: 300_000 }, async () => {
    const { client } = await aiDatabase(suite, '', 'trust');
    await client.query(`SET ai.openai_base_url = '${suite.fake.baseUrl}'; SET ai.openai_api_key = 'sk-probe-0123456789abcdef'`);
    // A model name over 1 KiB is no provider's: refused before anything is built or kept for it.
    await expect(client.query(`SELECT ai.openai_embed(repeat('m', 32768), 'x')`)).rejects.toMatchObject({
      code: '22023',
      message: 'the openai model name is 32768 characters long, over the 1024 allowed',
      hint: expect.stringContaining("the provider's name of the model"),
    });
    const before = heldLive();
    // Each call names a model of its own, as long as allowed: 1,000 of them.
    const { rows } = await client.query(`SELECT count(ai.openai_embed(repeat('m', 1000) || '-' || g, 'x')) AS n FROM generate_series(1, 1000) g`);
    expect(rows).toEqual([{ n: '1000' }]);
    // The fake provider (in this process) keeps the requests it got: not the proxy's to hold.
    suite.fake.requests.length = 0;
    const grown = heldLive() - before;
    // The providers built last (256 at most) stay, each with its SDK client; the rest must go. What one name left
    // behind for good is bounded in test/unit/limits.test.ts, where the heap holds nothing else.
    expect(grown).toBeLessThan(64 * MIB);
  });
});
