// 0.0.0.0 and :: name no host, yet connecting to them reaches the proxy's own loopback: an operator who denies
// loopback must not be bypassed by them, in any spelling a URL allows (review 4, finding 8).

import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { parseCommandLine } from '../../src/config.js';
import { configureProviderHttp } from '../../src/providers/http.js';
import { API_KEY, databaseWithModel, proxyAndFakeProvider } from '../support/models.js';

const shared = proxyAndFakeProvider();

afterEach(() => configureProviderHttp({}));

function operatorHosts(...args: string[]) {
  const command = parseCommandLine(args, {});
  if (command.kind !== 'run') throw new Error('not a run command');
  return command.config.providerHosts;
}

async function chatAt(client: pg.Client, baseUrl: string): Promise<string | undefined> {
  const config = { provider: 'openai', model_name: 'gpt-test', base_url: baseUrl, max_retries: 0, connect_timeout_ms: 500 };
  await client.query(`SELECT pg_llm_add_model(true, 'openai', 'llm', $1, $2)`, [API_KEY, JSON.stringify(config)]);
  return client.query(`SELECT pg_llm_chat('llm', 'hi') AS a`).then((result) => result.rows[0].a as string, (error: { code?: string }) => error.code);
}

describe('unspecified addresses as provider hosts', () => {
  it('are refused behind a loopback deny, in every spelling, and reach nothing', async () => {
    configureProviderHttp({ hosts: operatorHosts('--provider-hosts-deny', '127.0.0.0/8,::1') });
    const { client } = await databaseWithModel(shared.proxy, shared.fake, 'openai');
    const port = new URL(shared.fake.baseUrl).port;
    shared.fake.script({ kind: 'answer', content: 'reached loopback' });
    for (const host of ['0.0.0.0', '0', '0x0', '0.0', '[::]', '[0:0:0:0:0:0:0:0]', '[::ffff:0.0.0.0]', '0.1.2.3']) {
      expect({ host, outcome: await chatAt(client, `http://${host}:${port}/v1`) }).toEqual({ host, outcome: '42501' });
    }
    expect(shared.fake.requests).toHaveLength(0);
  });

  it('are refused whatever the operator allows, like link-local', async () => {
    configureProviderHttp({ hosts: operatorHosts('--provider-hosts-allow', '0.0.0.0/0,::/0') });
    const { client } = await databaseWithModel(shared.proxy, shared.fake, 'openai');
    const port = new URL(shared.fake.baseUrl).port;
    for (const host of ['0.0.0.0', '[::]']) expect(await chatAt(client, `http://${host}:${port}/v1`)).toBe('42501');
    expect(shared.fake.requests).toHaveLength(0);
  });
});
