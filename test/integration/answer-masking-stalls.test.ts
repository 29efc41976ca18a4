// Every answer is masked of its model's secrets (redacted.ts) on the event loop all sessions share. Review31: the
// masking cuts out and looks up a string at every character for every length of secret the model's config holds
// (a credential shorter than a fragment is its own length), so one role's own model, its config holding credentials
// of 16 lengths, answering 2 MiB (far under --max-response-bytes) froze every session of the proxy for seconds a
// call, however the answer had been parsed off the event loop.

import { describe, expect, it } from 'vitest';
import { clientOf } from '../support/pg-ai.js';
import { databaseWithModel, proxyAndFakeProvider } from '../support/models.js';
import { longestDelayMs } from '../support/stall-probes.js';

const shared = proxyAndFakeProvider();
const ANSWER_BYTES = 2 * 1024 * 1024;

describe('a big answer of a model whose config holds credentials of many lengths', () => {
  it("is masked without holding up the other sessions", async () => {
    const tokens = Object.fromEntries(Array.from({ length: 16 }, (_, i) => [`token_${i}`, 'q'.repeat(8 + i)]));
    const { name } = await databaseWithModel(shared.proxy, shared.fake, 'openai', { max_retries: 0, ...tokens }, 'sk-mallory-own-key-0123456789abcdefghijklmn');
    const heavy = await clientOf(shared.proxy, name, 'trust');
    const quiet = await longestDelayMs(new Promise((resolve) => setTimeout(resolve, 2000)));
    shared.fake.script({ kind: 'huge', bytes: ANSWER_BYTES });
    const answered = heavy.query(`SELECT length(pg_llm_chat('llm', 'a')) AS n`);
    const during = await longestDelayMs(answered);
    expect((await answered).rows).toEqual([{ n: ANSWER_BYTES }]);
    expect(during).toBeLessThan(4 * quiet + 500);
  }, 120_000);

  it("handed on whole by a pgai call with extra headers of many lengths is masked without holding up the other sessions", async () => {
    const headers = Object.fromEntries(Array.from({ length: 16 }, (_, i) => [`x-token-${i}`, 'q'.repeat(8 + i)]));
    const { name, client: admin } = await databaseWithModel(shared.proxy, shared.fake, 'openai');
    await admin.query('CREATE EXTENSION ai');
    const heavy = await clientOf(shared.proxy, name, 'trust');
    const quiet = await longestDelayMs(new Promise((resolve) => setTimeout(resolve, 2000)));
    shared.fake.script({ kind: 'huge', bytes: ANSWER_BYTES });
    const answered = heavy.query(
      `SELECT length(ai.openai_chat_complete('m', '[{"role": "user", "content": "a"}]', api_key => $1, extra_headers => $2, client_config => $3)->'choices'->0->'message'->>'content') AS n`,
      ['sk-mallory-own-key-0123456789abcdefghijklmn', JSON.stringify(headers), JSON.stringify({ base_url: shared.fake.baseUrl, max_retries: 0 })],
    );
    const during = await longestDelayMs(answered);
    expect((await answered).rows).toEqual([{ n: ANSWER_BYTES }]);
    expect(during).toBeLessThan(4 * quiet + 500);
  }, 120_000);

  it('streamed in one piece is masked without holding up the other sessions', async () => {
    const tokens = Object.fromEntries(Array.from({ length: 16 }, (_, i) => [`token_${i}`, 'q'.repeat(8 + i)]));
    const { name } = await databaseWithModel(shared.proxy, shared.fake, 'openai', { max_retries: 0, ...tokens }, 'sk-mallory-own-key-0123456789abcdefghijklmn');
    const heavy = await clientOf(shared.proxy, name, 'trust');
    const quiet = await longestDelayMs(new Promise((resolve) => setTimeout(resolve, 2000)));
    shared.fake.script({ kind: 'stream', chunks: ['a'.repeat(ANSWER_BYTES)] });
    const answered = heavy.query(`SELECT sum(length(chunk))::int AS n FROM pg_llm_chat_stream('llm', 'a')`);
    const during = await longestDelayMs(answered);
    expect((await answered).rows).toEqual([{ n: ANSWER_BYTES }]);
    expect(during).toBeLessThan(4 * quiet + 500);
  }, 120_000);
});
