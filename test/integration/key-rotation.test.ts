// Rotating the master key as an operator does: model secrets registered through a proxy under one key, the real
// rotate-master-key command run against the database, and proxies on the old key, on the new one, or on the new one
// with the old one as a previous key. Neither a key nor a secret may show in what the command prints.

import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate, shippedMigrations } from '../../src/catalog/migrate.js';
import { masterKey, sealedWith } from '../../src/crypto/secrets.js';
import { freePort } from '../support/cluster.js';
import { launch, listening } from '../support/command.js';
import { afterThisTest, freshDatabase } from '../support/database.js';
import { unboundBlob } from '../support/earlier-version.js';
import { startFakeProvider, type FakeProvider } from '../support/fake-provider.js';
import { cluster, connection, startProxy } from '../support/proxy.js';

const K1 = 'the first master passphrase';
/** 64 hex digits: used as the key itself, where K1 goes through scrypt. */
const K2 = '0123456789abcdef'.repeat(4);
const API_KEY = 'sk-rotate-0123456789abcdef';
const TOKEN = 'tok-rotate-5550001';
const SECRETS = [K1, K2, API_KEY, TOKEN];

let fake: FakeProvider;
beforeAll(async () => {
  fake = await startFakeProvider();
});
afterAll(async () => {
  await fake.close();
});

async function client(port: number, database: string): Promise<pg.Client> {
  const connected = new pg.Client(connection(port, 'postgres', database));
  await connected.connect();
  afterThisTest(() => connected.end());
  return connected;
}

/** A proxy started in this process with the given keys, for the rest of the test. */
async function proxyWith(key: string, previousKeys: string[] = []) {
  const proxy = await startProxy({ masterKey: key, previousMasterKeys: previousKeys });
  afterThisTest(() => proxy.stop());
  return proxy;
}

/** A fresh database with the catalog, and the instance `instance` registered through a proxy on `key`. */
async function registered(key: string, instance = 'llm') {
  const { name, client: direct } = await freshDatabase();
  const proxy = await proxyWith(key);
  const session = await client(proxy.port, name);
  await session.query('CREATE EXTENSION pg_llm');
  await register(session, instance);
  return { name, direct };
}

async function register(session: pg.Client, instance: string): Promise<void> {
  const config = { model_name: 'gpt-test', base_url: fake.baseUrl, max_retries: 0, auth_token: TOKEN };
  await session.query(`SELECT pg_llm_add_model(false, 'openai_compatible', $1, $2, $3)`, [instance, API_KEY, JSON.stringify(config)]);
}

async function sealedBlobs(direct: pg.Client): Promise<Array<{ instance_name: string; encrypted_api_key: Buffer; encrypted_config: Buffer }>> {
  const { rows } = await direct.query(`SELECT instance_name, encrypted_api_key, encrypted_config FROM _pg_llm_catalog.pg_llm_models ORDER BY 1`);
  return rows;
}

/** Runs rotate-master-key on the database; the keys come from the environment, as an operator's script would pass them. */
async function rotate(database: string, env: NodeJS.ProcessEnv, args: string[] = []) {
  const url = `postgres://postgres@127.0.0.1:${cluster().port}/${database}`;
  const running = launch(['rotate-master-key', '--database-url', url, ...args], {
    PG_LLM_MASTER_KEY: '',
    PG_LLM_PREVIOUS_MASTER_KEYS: '',
    PG_LLM_NEW_MASTER_KEY: '',
    ...env,
  });
  const code = await running.exited;
  const output = running.output();
  for (const secret of SECRETS) expect(output).not.toContain(secret);
  return { code, output, logged: output.trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>) };
}

/** Asks for an answer through the proxy, and returns the Authorization header the provider received with it. */
async function authorizationSent(session: pg.Client): Promise<string | undefined> {
  fake.requests.length = 0;
  fake.script({ kind: 'answer', content: 'still here' });
  expect((await session.query(`SELECT pg_llm_chat('llm', 'ping') AS a`)).rows).toEqual([{ a: 'still here' }]);
  return fake.requests[0]?.authorization;
}

describe('rotate-master-key', () => {
  it('re-seals every secret with the new key: a proxy on it calls the model, one on the old key alone is refused', async () => {
    const { name, direct } = await registered(K1);
    const before = await sealedBlobs(direct);

    const rotated = await rotate(name, { PG_LLM_MASTER_KEY: K1 }, ['--new-master-key', K2]);
    expect(rotated.code).toBe(0);
    expect(rotated.logged.at(-1)).toMatchObject({ level: 30, resealed: 2, alreadyCurrent: 0 });
    for (const blob of [before[0]!.encrypted_api_key, before[0]!.encrypted_config]) expect(rotated.output).not.toContain(blob.toString('base64'));
    const after = await sealedBlobs(direct);
    for (const blob of [after[0]!.encrypted_api_key, after[0]!.encrypted_config]) expect(sealedWith(blob, masterKey(K2))).toBe(true);

    const onNewKey = await client((await proxyWith(K2)).port, name);
    expect(await authorizationSent(onNewKey)).toBe(`Bearer ${API_KEY}`);

    const onOldKey = await client((await proxyWith(K1)).port, name);
    await expect(onOldKey.query(`SELECT pg_llm_chat('llm', 'ping')`)).rejects.toMatchObject({
      code: '28000',
      message: 'cannot open the secrets of model instance "llm": none of the configured master keys sealed them',
    });

    const again = await rotate(name, { PG_LLM_MASTER_KEY: K1, PG_LLM_NEW_MASTER_KEY: K2 });
    expect(again.code).toBe(0);
    expect(again.logged.at(-1)).toMatchObject({ resealed: 0, alreadyCurrent: 2 });
    expect(await sealedBlobs(direct)).toEqual(after);
  });

  it('takes the old keys from --previous-master-keys too, and leaves secrets the new key sealed as they are', async () => {
    const { name, direct } = await registered(K1);
    const newSession = await client((await proxyWith(K2)).port, name);
    await register(newSession, 'newer');
    const newer = (await sealedBlobs(direct)).find((row) => row.instance_name === 'newer');

    const rotated = await rotate(name, { PG_LLM_NEW_MASTER_KEY: K2 }, ['--master-key', 'some unrelated key', '--previous-master-keys', `other, ${K1}`]);
    expect(rotated.code).toBe(0);
    expect(rotated.logged.at(-1)).toMatchObject({ resealed: 2, alreadyCurrent: 2 });
    expect((await sealedBlobs(direct)).find((row) => row.instance_name === 'newer')).toEqual(newer);
  });

  it('with a wrong old key exits 1 naming the instance that did not open, and changes no blob', async () => {
    const { name, direct } = await registered(K1, 'llm');
    const elsewhere = await client((await proxyWith('a key nobody gave the command')).port, name);
    await register(elsewhere, 'stranger');
    const before = await sealedBlobs(direct);

    const failed = await rotate(name, { PG_LLM_MASTER_KEY: K1, PG_LLM_NEW_MASTER_KEY: K2 });
    expect(failed.code).toBe(1);
    expect(failed.logged.at(-1)).toMatchObject({ level: 50, msg: 'master key rotation failed' });
    expect(failed.logged.at(-1)!.err).toMatch(/model instance "stranger" \(stored secret was sealed with a master key that is not configured\)/);
    expect(failed.logged.at(-1)!.err).not.toMatch(/"llm"/);
    expect(await sealedBlobs(direct)).toEqual(before);
  });

  it('binds the unbound secrets of an earlier version that an upgrade may bind, and leaves a copied one unusable', async () => {
    const { name, client: direct } = await freshDatabase();
    await migrate(direct, shippedMigrations().filter((migration) => migration.name < '0007'));
    const insert = `INSERT INTO _pg_llm_catalog.pg_llm_models (instance_name, model_type, local_model, config, encrypted_api_key) VALUES ($1, 'openai_compatible', false, $2, $3)`;
    const config = JSON.stringify({ provider: 'openai_compatible', model_name: 'gpt-test', base_url: fake.baseUrl, max_retries: 0 });
    const copied = unboundBlob('sk-copied-key-0000111122', masterKey(K1));
    await direct.query(insert, ['llm', config, unboundBlob(API_KEY, masterKey(K1))]);
    for (const instance of ['copy', 'copy too']) await direct.query(insert, [instance, config, copied]);
    await migrate(direct); // without the master key: nothing is bound yet

    const rotated = await rotate(name, { PG_LLM_MASTER_KEY: K1, PG_LLM_NEW_MASTER_KEY: K2 });
    expect(rotated.code).toBe(0);
    expect(rotated.logged.at(-1)).toMatchObject({ resealed: 1, alreadyCurrent: 0 });
    const onNewKey = await client((await proxyWith(K2)).port, name);
    expect(await authorizationSent(onNewKey)).toBe(`Bearer ${API_KEY}`);
    await expect(onNewKey.query(`SELECT pg_llm_chat('copy', 'ping')`)).rejects.toMatchObject({ code: '28000' });
  });
});

describe('--previous-master-keys', () => {
  it('lets the proxy open secrets sealed with an earlier key, and seal new ones only with --master-key', async () => {
    const { name, direct } = await registered(K1);
    const port = await freePort();
    const running = launch(
      ['--listen', `127.0.0.1:${port}`, '--upstream', `postgres://127.0.0.1:${cluster().port}/?sslmode=disable`, '--admin', 'off', '--previous-master-keys', K1],
      { PG_LLM_MASTER_KEY: K2 },
    );
    afterThisTest(async () => {
      running.child.kill('SIGTERM');
      await running.exited;
    });
    await listening(running);
    const session = await client(port, name);
    expect(await authorizationSent(session)).toBe(`Bearer ${API_KEY}`);

    await register(session, 'newer');
    const newer = (await sealedBlobs(direct)).find((row) => row.instance_name === 'newer')!;
    expect(sealedWith(newer.encrypted_api_key, masterKey(K2))).toBe(true);
    expect(sealedWith(newer.encrypted_config, masterKey(K2))).toBe(true);
    for (const secret of SECRETS) expect(running.output()).not.toContain(secret);
  });
});
