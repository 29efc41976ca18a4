// A fresh database with the catalog installed through the proxy and a model: one instance, 'llm', registered against
// the fake provider (the starting point of the provider tests), or a mock "m" answering md5() as the server would.

import pg from 'pg';
import { afterAll, beforeAll } from 'vitest';
import { afterThisTest, freshDatabase } from './database.js';
import { startFakeProvider, type FakeProvider } from './fake-provider.js';
import { connection, startProxy, type ProxyOptions, type TestProxy } from './proxy.js';

export const API_KEY = 'sk-test-0123456789abcdef';

export async function databaseWithModel(
  proxy: TestProxy,
  fake: FakeProvider,
  provider: string,
  config: Record<string, unknown> = {},
  apiKey: string | null = API_KEY,
) {
  const { name, client: direct } = await freshDatabase();
  const client = new pg.Client(connection(proxy.port, 'postgres', name));
  await client.connect();
  afterThisTest(() => client.end());
  await client.query('CREATE EXTENSION pg_llm');
  const fullConfig = { provider, model_name: 'gpt-test', base_url: fake.baseUrl, max_retries: 2, ...config };
  await client.query(`SELECT pg_llm_add_model(false, $1, 'llm', $2, $3)`, [provider, apiKey, JSON.stringify(fullConfig)]);
  fake.requests.length = 0;
  return { name, client, direct };
}

/** A proxy and a fake provider for the tests of a file: started before the first, stopped after the last. */
export function proxyAndFakeProvider(options: ProxyOptions = {}): { proxy: TestProxy; fake: FakeProvider } {
  const shared = {} as { proxy: TestProxy; fake: FakeProvider };
  beforeAll(async () => {
    shared.proxy = await startProxy(options);
    shared.fake = await startFakeProvider();
  });
  afterAll(async () => {
    await shared.proxy.stop();
    await shared.fake.close();
  });
  return shared;
}

/** A database with pg_llm and a model "m" answering md5() of its prompt, as md5() answers the same statement sent direct. */
export async function databaseWithMd5Model(proxy: TestProxy): Promise<string> {
  const { name } = await freshDatabase();
  const setup = new pg.Client(connection(proxy.port, 'postgres', name));
  await setup.connect();
  await setup.query('CREATE EXTENSION pg_llm');
  await setup.query(`SELECT pg_llm_add_model(false, 'mock', 'm', NULL, '{"mock_mode": "md5"}')`);
  await setup.end();
  return name;
}
