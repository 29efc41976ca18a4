// A provider's answer that redirects (307) is not followed: the request's key headers (Anthropic's x-api-key, Azure's
// api-key, pgai's extra headers) would go on to a server the client never named, fetch dropping only Authorization
// across origins. Fake servers on loopback: the named one, which redirects, and the fake provider (another port),
// which records what reaches it.

import http, { type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { aiDatabase, fakeRoot, pgaiSuite } from '../support/pgai.js';

const suite = pgaiSuite();
let redirector: Server;
let redirectorUrl: string;

beforeAll(async () => {
  redirector = http.createServer((request, response) => {
    response.writeHead(307, { location: `${fakeRoot(suite.fake)}${request.url}` });
    response.end();
  });
  await new Promise<void>((resolve) => redirector.listen(0, '127.0.0.1', resolve));
  redirectorUrl = `http://127.0.0.1:${(redirector.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => redirector.close(() => resolve())));

describe('a redirect from the server a call names', () => {
  it("is not followed with the session's key: the call fails, and the other origin hears nothing", async () => {
    const { client } = await aiDatabase(suite);
    const key = 'sk-ant-never-elsewhere-0123456789';
    await client.query(`SET ai.anthropic_api_key = '${key}'`);
    await expect(
      client.query(`SELECT ai.anthropic_generate('claude-test', '[{"role": "user", "content": "hi"}]', base_url => $1::text)`, [redirectorUrl]),
    ).rejects.toMatchObject({ message: expect.stringContaining('307') });
    await client.query('CREATE EXTENSION pg_llm');
    const config = JSON.stringify({ model_name: 'gpt', base_url: `${redirectorUrl}/v1`, max_retries: 0 });
    await client.query(`SELECT pg_llm_add_model(false, 'openai', 'redirected', 'sk-model-never-elsewhere-0123', $1)`, [config]);
    await expect(client.query(`SELECT pg_llm_chat('redirected', 'hi')`)).rejects.toMatchObject({ message: expect.stringContaining('307') });
    expect(suite.fake.requests).toEqual([]);
  });
});
