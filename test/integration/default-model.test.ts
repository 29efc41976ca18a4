// The default model of llm_ask and llm_provider configured through pg_ai_query's config file, through
// --default-model (with an api_key sealed by the real seal-secret command) and through the environment, against a
// fake provider on loopback: which one wins, what reaches the provider, and what is refused at start-up.

import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DefaultSources } from '../../src/providers/default-provider.js';
import { readPgAiConfig, type PgAiConfig } from '../../src/providers/pg-ai-config.js';
import { freePort } from '../support/cluster.js';
import { launch, listening } from '../support/command.js';
import { afterThisTest, clientThrough, freshDatabase } from '../support/database.js';
import { startFakeProvider, type FakeProvider } from '../support/fake-provider.js';
import { cluster, connection } from '../support/proxy.js';

const API_KEY = 'sk-default-0123456789abcdef';
const MASTER_KEY = 'default model master key';
/** So that the spawned command sees only what a test gives it, whatever this process's environment. */
const UNCONFIGURED: NodeJS.ProcessEnv = Object.fromEntries(
  [
    'LLM_PROVIDER',
    'AZURE_OPENAI_ENDPOINT',
    'ANTHROPIC_API_KEY',
    'OPENAI_API_KEY',
    'OPENAI_BASE_URL',
    'OPENAI_MODEL',
    'PG_LLM_DEFAULT_MODEL',
    'PG_AI_CONFIG',
    'PG_LLM_CONFIG',
    'PG_LLM_MASTER_KEY',
  ].map((name) => [name, undefined]),
);

let fake: FakeProvider;
/** The fake's address without /v1, as pg_ai_query's api_endpoint and the Anthropic SDK's base URL are written. */
let root: string;
beforeAll(async () => {
  fake = await startFakeProvider();
  root = fake.baseUrl.replace(/\/v1$/, '');
});
afterAll(() => fake.close());

function directory(): string {
  return mkdtempSync(path.join(os.tmpdir(), 'pg-llm-default-'));
}

function pgAiFile(dir: string, ...lines: string[]): string {
  const file = path.join(dir, '.pg_ai.config');
  writeFileSync(file, lines.join('\n'));
  return file;
}

function pgAi(...lines: string[]): PgAiConfig {
  return readPgAiConfig(pgAiFile(directory(), ...lines), true)!.config;
}

/** A fresh database with the catalog, and a client of a proxy whose default model comes from `defaults`. */
async function clientWith(defaults: DefaultSources): Promise<pg.Client> {
  const { name } = await freshDatabase();
  const client = await clientThrough({ defaults }, name);
  await client.query('CREATE EXTENSION pg_llm');
  return client;
}

/** llm_provider(), then llm_ask's answer and the one request the fake provider saw for it. */
async function ask(client: pg.Client) {
  const [{ provider }] = (await client.query('SELECT llm_provider() AS provider')).rows;
  fake.requests.length = 0;
  fake.script({ kind: 'answer', content: 'answered' });
  const [{ answer }] = (await client.query(`SELECT llm_ask('question') AS answer`)).rows;
  expect(fake.requests).toHaveLength(1);
  return { provider, answer, request: fake.requests[0]! };
}

describe("the default model from pg_ai_query's config file", () => {
  it('answers llm_ask from [openai] with its key, model and endpoint, and [general] max_retries', async () => {
    const client = await clientWith({
      env: {},
      pgAi: pgAi('[general]', 'max_retries = 0', '[openai]', `api_key = "${API_KEY}"`, 'default_model = gpt-from-pgai', `api_endpoint = ${root}`),
    });
    const { provider, answer, request } = await ask(client);
    expect({ provider, answer }).toEqual({ provider: 'openai', answer: 'answered' });
    expect(request).toMatchObject({ path: '/v1/chat/completions', authorization: `Bearer ${API_KEY}`, body: { model: 'gpt-from-pgai' } });
    fake.requests.length = 0;
    fake.script({ kind: 'error', status: 500, message: 'overloaded' });
    await expect(client.query(`SELECT llm_ask('question')`)).rejects.toMatchObject({ code: '39001' });
    expect(fake.requests).toHaveLength(1);
  });

  it('takes the first section with a key: [anthropic] before [gemini]', async () => {
    const client = await clientWith({
      env: {},
      pgAi: pgAi('[openai]', 'default_model = gpt-unused', '[gemini]', 'api_key = g-key', '[anthropic]', `api_key = ${API_KEY}`, `api_endpoint = ${root}`),
    });
    const { provider, request } = await ask(client);
    expect(provider).toBe('anthropic');
    expect(request).toMatchObject({ path: '/v1/messages', body: { model: 'claude-sonnet-4-6' } });
  });

  it('runs [gemini] on the OpenAI-compatible adapter, and llm_provider() says gemini', async () => {
    const client = await clientWith({ env: {}, pgAi: pgAi('[gemini]', `api_key = '${API_KEY}'`, `api_endpoint = ${fake.baseUrl}`) });
    const { provider, request } = await ask(client);
    expect(provider).toBe('gemini');
    expect(request).toMatchObject({ path: '/v1/chat/completions', authorization: `Bearer ${API_KEY}`, body: { model: 'gemini-2.5-flash' } });
  });
});

describe('precedence between --default-model, the environment and the pg_ai file', () => {
  const file = () => pgAi('[openai]', 'api_key = sk-file', 'default_model = gpt-file', `api_endpoint = ${fake.baseUrl}`);
  const option = () => ({ provider: 'openai', model_name: 'gpt-option', base_url: fake.baseUrl, api_key: 'sk-option' });
  const anthropicEnv = () => ({ ANTHROPIC_API_KEY: 'sk-env-anthropic', ANTHROPIC_BASE_URL: root, ANTHROPIC_MODEL: 'claude-env' });

  it('--default-model wins over the environment and the file', async () => {
    const { provider, request } = await ask(await clientWith({ env: anthropicEnv(), model: option(), pgAi: file() }));
    expect(provider).toBe('openai');
    expect(request).toMatchObject({ authorization: 'Bearer sk-option', body: { model: 'gpt-option' } });
  });

  it('the environment wins over the file', async () => {
    const { provider, request } = await ask(await clientWith({ env: anthropicEnv(), pgAi: file() }));
    expect(provider).toBe('anthropic');
    expect(request).toMatchObject({ path: '/v1/messages', body: { model: 'claude-env' } });
  });

  it("the environment's key goes with the file's settings of the same provider", async () => {
    const { provider, request } = await ask(await clientWith({ env: { OPENAI_API_KEY: 'sk-env' }, pgAi: file() }));
    expect(provider).toBe('openai');
    expect(request).toMatchObject({ path: '/v1/chat/completions', authorization: 'Bearer sk-env', body: { model: 'gpt-file' } });
  });

  it('LLM_PROVIDER wins over all, its environment before --default-model before the file', async () => {
    const env = { ...anthropicEnv(), LLM_PROVIDER: 'openai', OPENAI_MODEL: 'gpt-env' };
    const { provider, request } = await ask(await clientWith({ env, model: option(), pgAi: file() }));
    expect(provider).toBe('openai');
    expect(request).toMatchObject({ authorization: 'Bearer sk-option', body: { model: 'gpt-env' } });
  });
});

describe('the command', () => {
  /** The proxy as a user starts it, with HOME in `home` and only `args` and `env` configuring it. */
  async function startCommand(home: string, args: string[], env: NodeJS.ProcessEnv = {}) {
    const port = await freePort();
    const upstream = `postgres://127.0.0.1:${cluster().port}/?sslmode=disable`;
    const running = launch(['--listen', `127.0.0.1:${port}`, '--upstream', upstream, '--admin', 'off', ...args], { ...UNCONFIGURED, HOME: home, ...env });
    afterThisTest(async () => {
      running.child.kill('SIGTERM');
      await running.exited;
    });
    await listening(running);
    const { name } = await freshDatabase();
    const client = new pg.Client(connection(port, 'postgres', name));
    await client.connect();
    afterThisTest(() => client.end());
    await client.query('CREATE EXTENSION pg_llm');
    return { running, client };
  }

  /** The secret sealed by the real command under `key`. */
  async function sealed(secret: string, key: string): Promise<string> {
    const sealer = launch(['seal-secret'], { ...UNCONFIGURED, PG_LLM_MASTER_KEY: key });
    sealer.child.stdin!.end(`${secret}\n`);
    expect(await sealer.exited).toBe(0);
    return sealer.output().trim();
  }

  it('opens at start-up a --default-model api_key sealed by seal-secret, given in a JSON --config file', async () => {
    const sealedKey = await sealed(API_KEY, MASTER_KEY);
    expect(sealedKey).toMatch(/^sealed:v2:[A-Za-z0-9+/=]+$/);
    const home = directory();
    const config = path.join(home, 'proxy.json');
    writeFileSync(config, JSON.stringify({ 'default-model': { provider: 'openai', model_name: 'gpt-sealed', base_url: fake.baseUrl, api_key: sealedKey } }));
    const { running, client } = await startCommand(home, ['--config', config], { PG_LLM_MASTER_KEY: MASTER_KEY });
    const { provider, request } = await ask(client);
    expect(provider).toBe('openai');
    expect(request).toMatchObject({ authorization: `Bearer ${API_KEY}`, body: { model: 'gpt-sealed' } });
    expect(running.output()).toMatch(/"provider":"openai","chosen_by":"--default-model".*default LLM provider/);
    expect(running.output()).not.toContain(API_KEY);
  });

  it("sends no provider SDK variable of its environment (gateway tokens, custom headers) with a role's requests", async () => {
    const operators = { ANTHROPIC_AUTH_TOKEN: 'tok-operator-0123456789', ANTHROPIC_CUSTOM_HEADERS: 'X-Gateway: gw-anthropic-secret', OPENAI_CUSTOM_HEADERS: 'X-Gateway: gw-openai-secret' };
    const { running, client } = await startCommand(directory(), [], { ...operators, PG_LLM_MASTER_KEY: MASTER_KEY });
    await client.query(`SELECT pg_llm_add_model(false, 'anthropic', 'claude', 'sk-role-anthropic-0123', '{"base_url": "${root}"}')`);
    await client.query(`SELECT pg_llm_add_model(false, 'openai', 'gpt', 'sk-role-openai-0123', '{"base_url": "${fake.baseUrl}"}')`);
    fake.requests.length = 0;
    await client.query(`SELECT pg_llm_chat('claude', 'hi'), pg_llm_chat('gpt', 'hi')`);
    expect(fake.requests).toHaveLength(2);
    for (const request of fake.requests) {
      expect(request.headers['x-gateway']).toBeUndefined();
      expect(JSON.stringify(request.headers)).not.toContain('tok-operator');
    }
    expect(running.output()).toContain('ignoring provider SDK variables');
    for (const value of Object.values(operators)) expect(running.output()).not.toContain(value.split(': ').at(-1));
  });

  it('reads ~/.pg_ai.config by default, warning about keys it does not know', async () => {
    const home = directory();
    pgAiFile(home, '[openai]', `api_key = ${API_KEY}`, `api_endpoint = ${root}`, 'max_tokens = 100');
    const { running, client } = await startCommand(home, []);
    expect((await ask(client)).request).toMatchObject({ authorization: `Bearer ${API_KEY}`, body: { model: 'gpt-4o-mini' } });
    expect(running.output()).toContain(`${path.join(home, '.pg_ai.config')}:4: unknown key [openai] max_tokens ignored`);
  });

  it('fails llm_ask with 55000 when nothing is configured, naming every way to configure it', async () => {
    const { client } = await startCommand(directory(), []);
    expect((await client.query('SELECT llm_provider() AS p')).rows).toEqual([{ p: 'openai' }]);
    const error = await client.query(`SELECT llm_ask('question')`).catch((caught: unknown) => caught);
    expect(error).toMatchObject({ code: '55000', message: 'no API key for the default LLM provider openai' });
    for (const way of ['OPENAI_API_KEY', '--default-model', 'PG_LLM_DEFAULT_MODEL', '[openai] section of ~/.pg_ai.config', 'LLM_PROVIDER']) {
      expect((error as { hint: string }).hint).toContain(way);
    }
  });

  it('refuses to start, with exit 2 and a clear message without key material, a default model it cannot use', async () => {
    const home = directory();
    const badFile = path.join(home, 'bad.config');
    writeFileSync(badFile, ['[general]', 'log_level = "INFO"', 'max_retries = 11'].join('\n'));
    const wronglySealed = await sealed(API_KEY, 'the right key');
    const refusals: Array<[string[], NodeJS.ProcessEnv, string]> = [
      [['--default-model', JSON.stringify({ provider: 'openai', api_key: wronglySealed })], { PG_LLM_MASTER_KEY: 'a wrong key' }, '--default-model: api_key cannot be opened'],
      [['--default-model', `{"provider": "openai", "api_key": ${API_KEY}}`], {}, '--default-model is not valid JSON'],
      [['--default-model', '{"provider": "gpt-5"}'], {}, '--default-model: "provider" must be one of'],
      [['--pg-ai-config', badFile], {}, `${badFile}:3: [general] max_retries must be an integer from 0 to 10, got "11"`],
      [['--pg-ai-config', path.join(home, 'missing.config')], {}, 'cannot read the pg_ai_query config file'],
      [[], { LLM_PROVIDER: 'skynet' }, 'LLM_PROVIDER names unknown provider "skynet"'],
    ];
    const outputs = refusals.map(async ([args, env, message]): Promise<[string, string]> => {
      const running = launch(['--admin', 'off', '--listen', '127.0.0.1:0', ...args], { ...UNCONFIGURED, HOME: home, ...env });
      expect(await running.exited).toBe(2);
      return [running.output(), message];
    });
    const unsealed = launch(['seal-secret'], { ...UNCONFIGURED, HOME: home });
    unsealed.child.stdin!.end(API_KEY);
    expect(await unsealed.exited).toBe(2);
    for (const [output, message] of [...(await Promise.all(outputs)), [unsealed.output(), 'seal-secret needs the master key']]) {
      expect(output).toContain(message);
      expect(output).not.toContain(API_KEY);
      expect(output).not.toContain('right key');
    }
  });
});
