// A proxy whose default model is the fake provider, configured as pg_ai_query users configure it: through the
// [openai] section of the pg_ai_query config file, [general] max_retries = 0 so a provider error shows at once, and
// any further lines the test adds (its [query] and [response] settings).

import pg from 'pg';
import { afterAll, beforeAll } from 'vitest';
import { parsePgAiConfig } from '../../src/providers/pg-ai-config.js';
import { afterThisTest, freshDatabase } from './database.js';
import { startFakeProvider, type FakeProvider, type FakeProviderOptions } from './fake-provider.js';
import { connection, startProxy, type Role, type TestProxy } from './proxy.js';
import { createShop } from './shop.js';

export const DEFAULT_KEY = 'sk-pgai-0123456789abcdef';

export function pgAiProxy(fake: FakeProvider, ...lines: string[]): Promise<TestProxy> {
  const root = fake.baseUrl.replace(/\/v1$/, '');
  const file = ['[general]', 'max_retries = 0', '[openai]', `api_key = ${DEFAULT_KEY}`, `api_endpoint = ${root}`, '[anthropic]', `api_endpoint = ${root}`, ...lines];
  return startProxy({ defaults: { env: {}, pgAi: parsePgAiConfig(file.join('\n'), 'test.pg_ai.config').config } });
}

/** A client of `proxy` as `role` on `database`, ended after the test. */
export async function clientOf(proxy: TestProxy, database: string, role: Role = 'postgres'): Promise<pg.Client> {
  const client = new pg.Client(connection(proxy.port, role, database));
  await client.connect();
  afterThisTest(() => client.end());
  return client;
}

export interface PgAiSuite {
  fake: FakeProvider;
  /** Configured by pgAiProxy with no further lines. */
  proxy: TestProxy;
}

/** A fake provider (with `options`) and a proxy on it for the whole test file, started before its tests and stopped after. */
export function pgAiSuite(options: FakeProviderOptions = {}): PgAiSuite {
  const suite = {} as PgAiSuite;
  beforeAll(async () => {
    suite.fake = await startFakeProvider(options);
    suite.proxy = await pgAiProxy(suite.fake);
  });
  afterAll(async () => {
    await suite.proxy.stop();
    await suite.fake.close();
  });
  return suite;
}

/**
 * A fresh database with the shop schema (test/support/shop.ts) and pg_llm installed, with clients through `proxy`
 * as postgres (admin) and as the role the shop grants only some tables (reader); the fake's requests are cleared.
 */
export async function shopDatabase(suite: PgAiSuite, proxy: TestProxy = suite.proxy) {
  const { name, client: direct } = await freshDatabase();
  await createShop(direct);
  const admin = await clientOf(proxy, name);
  await admin.query('CREATE EXTENSION pg_llm');
  const reader = await clientOf(proxy, name, 'trust');
  suite.fake.requests.length = 0;
  return { name, direct, admin, reader };
}

/** The shop with a model instance "llm" on the fake provider, registered by postgres for every role to use. */
export async function shopWithModel(suite: PgAiSuite) {
  const database = await shopDatabase(suite);
  const config = { model_name: 'gpt-test', base_url: suite.fake.baseUrl, max_retries: 0 };
  await database.admin.query(`SELECT pg_llm_add_model(false, 'openai_compatible', 'llm', NULL, $1)`, [JSON.stringify(config)]);
  suite.fake.requests.length = 0;
  return database;
}
