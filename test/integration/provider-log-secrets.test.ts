// Review24: fetch refuses a URL holding a user name and password, and a header value with a line break, quoting them
// in its error, which the proxy logged on every call. Such a base_url is refused at once (22023), and the log line of
// a request that could not be made names the error, not its text.

import { describe, expect, it } from 'vitest';
import { capturedProviderLog } from '../support/captured-log.js';
import { freshDatabase } from '../support/database.js';
import { clientOf } from '../support/pg-ai.js';
import { API_KEY, databaseWithModel, proxyAndFakeProvider } from '../support/models.js';

const shared = proxyAndFakeProvider();

describe("a base_url's credentials", () => {
  it("never reach the proxy's log: a model registered at http://user:password@host", async () => {
    const { lines: logged } = capturedProviderLog();
    const password = 'pw-0123456789-userinfo-secret';
    const { client } = await databaseWithModel(shared.proxy, shared.fake, 'openai');
    const { host } = new URL(shared.fake.baseUrl);
    const config = { provider: 'openai', model_name: 'gpt-test', base_url: `http://gateway:${password}@${host}/v1`, max_retries: 0 };
    await client.query(`SELECT pg_llm_add_model(true, 'openai', 'llm', $1, $2)`, [API_KEY, JSON.stringify(config)]);
    const error = await client.query(`SELECT pg_llm_chat('llm', 'hi')`).then(() => undefined, (caught: Error) => caught);
    expect(error).toMatchObject({ code: '22023', message: expect.stringContaining('holds a user name or password') });
    expect(String(error?.message)).not.toContain(password.slice(0, 8));
    expect(logged.join('')).not.toContain(password.slice(0, 8));
  });

  it("never reach the proxy's log: a pgai call's client_config base_url with a password", async () => {
    const { lines: logged } = capturedProviderLog();
    const password = 'pw-abcdefghij-pgai-userinfo';
    const { name } = await freshDatabase();
    const client = await clientOf(shared.proxy, name, 'trust');
    await (await clientOf(shared.proxy, name)).query('CREATE EXTENSION ai');
    const { host } = new URL(shared.fake.baseUrl);
    const error = await client
      .query(`SELECT ai.openai_embed('m', 'x', api_key => 'sk-probe-0123456789abcdef', client_config => '{"base_url": "http://gateway:${password}@${host}/v1", "max_retries": 0}')`)
      .then(() => undefined, (caught: Error) => caught);
    expect(error).toMatchObject({ code: '22023' });
    expect(String(error?.message)).not.toContain(password.slice(0, 8));
    expect(logged.join('')).not.toContain(password.slice(0, 8));
  });
});

describe("a pgai call's extra header", () => {
  it("with a line break in its value never reaches the proxy's log", async () => {
    const { lines: logged } = capturedProviderLog();
    const token = 'tok-0123456789-header-secret';
    const { name } = await freshDatabase();
    const client = await clientOf(shared.proxy, name, 'trust');
    await (await clientOf(shared.proxy, name)).query('CREATE EXTENSION ai');
    const headers = JSON.stringify({ 'x-token': `${token}\nmore` });
    const error = await client
      .query(`SELECT ai.openai_embed('m', 'x', api_key => 'sk-probe-0123456789abcdef', extra_headers => $1::jsonb, client_config => $2::jsonb)`, [
        headers,
        JSON.stringify({ base_url: `${shared.fake.baseUrl}`, max_retries: 0 }),
      ])
      .then(() => undefined, (caught: Error) => caught);
    expect(error).toBeDefined();
    expect(String(error?.message)).not.toContain(token.slice(0, 8));
    expect(logged.join('')).not.toContain(token.slice(0, 8));
  });
});
