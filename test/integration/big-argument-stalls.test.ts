// Issue 12 (review L3): calls with megabytes of arguments held every session up: the proxy parsed each call's
// arguments on the event loop every session shares, and the SDK wrote each request body there (JSON.stringify of a
// 24 MB prompt of quotes and backslashes: 0.9 s), so that four such calls held other sessions for 1.3 to 1.6 s. Now
// big arguments are parsed, and big request bodies written, in a thread; the provider gets the same request.

import { describe, expect, it } from 'vitest';
import { longestJsonOnEventLoop } from '../support/json-parsed-on-event-loop.js';
import { databaseWithModel, proxyAndFakeProvider } from '../support/models.js';
import { aiDatabase, pointedAt } from '../support/pgai.js';

const shared = proxyAndFakeProvider();
/** A prompt of 2.8 million characters, a quote or a backslash in every 3.5 of them, which JSON escapes. */
const BIG = `repeat(E'\\\\u00e9"', 400000)`;
const PROMPT_LENGTH = 7 * 400000;
/** Far below the prompts: what the event loop may parse or write of JSON at a time (small answers, catalog rows). */
const SMALL = 256 * 1024;

function messages(body: Record<string, unknown>): Array<{ content: string }> {
  return body.messages as Array<{ content: string }>;
}

describe('calls with big arguments', () => {
  it.each([
    ['found by a collect pass', `SELECT length(pg_llm_chat('llm', ${BIG} || g)) AS n FROM generate_series(1, 2) g`],
    ['whole output columns', `SELECT pg_llm_chat('llm', ${BIG} || g) IS NOT NULL AS n FROM generate_series(1, 2) g`],
    ['streamed', `SELECT count(*) AS n FROM generate_series(1, 2) g, pg_llm_chat_stream('llm', ${BIG} || g)`],
  ])('%s: the arguments are parsed and the request written in a thread, the provider asked the same', async (_, sql) => {
    const { client } = await databaseWithModel(shared.proxy, shared.fake, 'openai');
    const longest = await longestJsonOnEventLoop(() => client.query(sql));
    expect(longest.parsed).toBeLessThan(SMALL);
    expect(longest.written).toBeLessThan(SMALL);
    const prompts = shared.fake.requests.map((request) => messages(request.body).at(-1)!.content);
    expect(prompts.map((prompt) => [prompt.length, prompt.slice(0, 7), prompt.at(-1)]).sort()).toEqual([
      [PROMPT_LENGTH + 1, '\\u00e9"', '1'],
      [PROMPT_LENGTH + 1, '\\u00e9"', '2'],
    ]);
  }, 60_000);

  it('streamed: the answer to a request written in a thread is read as the stream it is', async () => {
    const { client } = await databaseWithModel(shared.proxy, shared.fake, 'openai');
    // Past what is passed on unparsed (64 kB), an answer read as a whole one would be parsed as JSON, and fail.
    const chunks = Array.from({ length: 50 }, (_, i) => `${i}${'x'.repeat(2000)}`);
    shared.fake.script({ kind: 'stream', chunks });
    const { rows } = await client.query(`SELECT string_agg(chunk, '' ORDER BY seq_no) AS answer FROM pg_llm_chat_stream('llm', ${BIG})`);
    expect(rows).toEqual([{ answer: chunks.join('') }]);
    expect(messages(shared.fake.requests[0]!.body).at(-1)!.content).toHaveLength(PROMPT_LENGTH);
  }, 60_000);

  it("of Anthropic's API, and of pgai's own JSON API: written in a thread too", async () => {
    const { client } = await databaseWithModel(shared.proxy, shared.fake, 'anthropic', { base_url: shared.fake.baseUrl.replace(/\/v1$/, ''), model_name: 'claude-test' });
    const anthropic = await longestJsonOnEventLoop(() => client.query(`SELECT length(pg_llm_chat('llm', ${BIG})) AS n`));
    expect(shared.fake.requests.map((request) => [request.path, messages(request.body)[0]!.content.length])).toEqual([['/v1/messages', PROMPT_LENGTH]]);
    const pgai = await aiDatabase({ proxy: shared.proxy, fake: shared.fake });
    await pgai.client.query(pointedAt(shared.fake));
    shared.fake.requests.length = 0;
    const embedded = await longestJsonOnEventLoop(() => pgai.client.query(`SELECT ai.openai_embed('m', ${BIG}, api_key => 'sk-big-0123456789abcdef') IS NOT NULL AS n`));
    expect(shared.fake.requests[0]!.body.input).toEqual([expect.stringMatching(/^\\u00e9"/)]);
    for (const longest of [anthropic, embedded]) {
      expect(longest.parsed).toBeLessThan(SMALL);
      expect(longest.written).toBeLessThan(SMALL);
    }
  }, 60_000);
});
