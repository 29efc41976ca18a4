// pgai's functions through a proxy, against the fake provider (test/support/fake-provider.ts) standing in for
// OpenAI, Anthropic, Ollama, Cohere and Voyage AI at once: a database with CREATE EXTENSION ai, and the settings
// that point each API at the fake, as a pgai user points them at a server (SET ai.openai_base_url…).

import type pg from 'pg';
import { afterAll, beforeAll } from 'vitest';
import { freshDatabase } from './database.js';
import { startFakeProvider, type FakeProvider } from './fake-provider.js';
import { clientOf } from './pg-ai.js';
import { startProxy, type ProxyOptions, type Role, type TestProxy } from './proxy.js';

export interface PgaiSuite {
  fake: FakeProvider;
  proxy: TestProxy;
}

/** A fake provider and a proxy for the whole test file; `options` may give the proxy an environment (its keys). */
export function pgaiSuite(options: (fake: FakeProvider) => ProxyOptions = () => ({})): PgaiSuite {
  const suite = {} as PgaiSuite;
  beforeAll(async () => {
    suite.fake = await startFakeProvider();
    suite.proxy = await startProxy(options(suite.fake));
  });
  afterAll(async () => {
    await suite.proxy.stop();
    await suite.fake.close();
  });
  return suite;
}

/** The fake's address without OpenAI's /v1: Anthropic's, Ollama's and Cohere's paths start at the root. */
export function fakeRoot(fake: FakeProvider): string {
  return fake.baseUrl.replace(/\/v1$/, '');
}

/** SET statements pointing every API at the fake, as pgai's settings (and the proxy's own for Cohere and Voyage AI) do. */
export function pointedAt(fake: FakeProvider): string {
  const root = fakeRoot(fake);
  return [
    `SET ai.openai_base_url = '${fake.baseUrl}'`,
    `SET ai.anthropic_base_url = '${root}'`,
    `SET ai.ollama_host = '${root}'`,
    `SET ai.cohere_base_url = '${root}'`,
    `SET ai.voyageai_base_url = '${fake.baseUrl}'`,
  ].join('; ');
}

/** A fresh database with ai installed; `setup` runs there directly first. A client through the suite's proxy as `role`. */
export async function aiDatabase(suite: PgaiSuite, setup = '', role: Role = 'postgres'): Promise<{ name: string; direct: pg.Client; client: pg.Client }> {
  const { name, client: direct } = await freshDatabase();
  if (setup) await direct.query(setup);
  const admin = await clientOf(suite.proxy, name);
  await admin.query('CREATE EXTENSION ai');
  const client = role === 'postgres' ? admin : await clientOf(suite.proxy, name, role);
  suite.fake.requests.length = 0;
  return { name, direct, client };
}
