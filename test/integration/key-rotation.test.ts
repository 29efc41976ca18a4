// Rotating the master key as an operator does: model secrets registered through a proxy under one key, the real
// rotate-master-key command run against the database, and proxies on the old key, on the new one, or on the new one
// with the old one as a previous key. Neither a key nor a secret may show in what the command prints.

import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate, shippedMigrations } from '../../src/catalog/migrate.js';
import { sealedColumns } from '../../src/catalog/models.js';
import { secretBinding } from '../../src/catalog/secret-binding.js';
import { masterKey, open, openWithAny, sealedWith } from '../../src/crypto/secrets.js';
import { freePort } from '../support/cluster.js';
import { launch, listening } from '../support/command.js';
import { afterThisTest, freshDatabase } from '../support/database.js';
import { unboundBlob } from '../support/earlier-version.js';
import { startFakeProvider, type FakeProvider } from '../support/fake-provider.js';
import { cluster, connection, startProxy } from '../support/proxy.js';
import { connectAs } from '../support/roles.js';

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

  it('leaves the secrets of a key it was not given as they were, naming them, and re-seals the rest', async () => {
    const { name, direct } = await registered(K1, 'llm');
    const elsewhere = await client((await proxyWith('a key nobody gave the command')).port, name);
    await register(elsewhere, 'stranger');
    const before = await sealedBlobs(direct);

    const rotated = await rotate(name, { PG_LLM_MASTER_KEY: K1, PG_LLM_NEW_MASTER_KEY: K2 });
    expect(rotated.code).toBe(0);
    const warned = rotated.logged.find((line) => line.level === 40)!;
    expect(warned.left).toEqual([
      { instanceName: 'stranger', owner: 'postgres', column: 'encrypted_api_key', reason: expect.stringMatching(/sealed with a master key not given to the rotation/) },
      { instanceName: 'stranger', owner: 'postgres', column: 'encrypted_config', reason: expect.stringMatching(/sealed with a master key not given to the rotation/) },
    ]);
    expect(rotated.logged.at(-1)).toMatchObject({ level: 30, resealed: 2, alreadyCurrent: 0, left: 2 });
    const after = await sealedBlobs(direct);
    expect(after.find((row) => row.instance_name === 'stranger')).toEqual(before.find((row) => row.instance_name === 'stranger'));
    expect(sealedWith(after.find((row) => row.instance_name === 'llm')!.encrypted_api_key, masterKey(K2))).toBe(true);
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
    expect(rotated.logged.at(-1)).toMatchObject({ resealed: 1, alreadyCurrent: 0, left: 2 });
    const onNewKey = await client((await proxyWith(K2)).port, name);
    expect(await authorizationSent(onNewKey)).toBe(`Bearer ${API_KEY}`);
    await expect(onNewKey.query(`SELECT pg_llm_chat('copy', 'ping')`)).rejects.toMatchObject({ code: '28000' });
  });
});

describe('rotate-master-key among roles', () => {
  const BOB_KEY = 'the own session passphrase of bob';
  const readProofs = async (direct: pg.Client) =>
    (await direct.query(`SELECT instance_name, read_proof_sha256 FROM _pg_llm_catalog.pg_llm_models ORDER BY 1`)).rows as Array<{ instance_name: string; read_proof_sha256: Buffer | null }>;

  it("is not held up by a role's secrets under its own session key, nor by bytes a role stored that open with nothing", async () => {
    const { name, direct } = await registered(K1, 'llm');
    const { port } = await proxyWith(K1);
    const alice = new pg.Client(connection(port, 'trust', name));
    const bob = new pg.Client(connection(port, 'password', name));
    for (const session of [alice, bob]) {
      await session.connect();
      afterThisTest(() => session.end());
    }
    await register(alice, 'alicem');
    await bob.query(`SET pg_llm.master_key = '${BOB_KEY}'`);
    await register(bob, 'bobm');
    // Stored by bob straight into the catalog: bytes under a key id nobody has, and bytes naming the operator's key.
    const bobDirect = await connectAs('password', name);
    const insert = `INSERT INTO _pg_llm_catalog.pg_llm_models (instance_name, model_type, config, encrypted_api_key) VALUES ($1, 'openai_compatible', '{}', $2)`;
    await bobDirect.query(insert, ['junk', Buffer.concat([Buffer.from([2]), randomBytes(60)])]);
    await bobDirect.query(insert, ['junk too', Buffer.concat([Buffer.from([2]), masterKey(K1).id, randomBytes(40)])]);
    const blobsBefore = await sealedBlobs(direct);
    const proofsBefore = await readProofs(direct);

    const rotated = await rotate(name, { PG_LLM_MASTER_KEY: K1, PG_LLM_NEW_MASTER_KEY: K2 });
    expect(rotated.output).not.toContain(BOB_KEY);
    expect(rotated.code).toBe(0);
    expect(rotated.logged.at(-1)).toMatchObject({ level: 30, resealed: 4, alreadyCurrent: 0, left: 4 });
    const bobs = 'password_user';
    expect(rotated.logged.find((line) => line.level === 40)!.left).toEqual([
      { instanceName: 'bobm', owner: bobs, column: 'encrypted_api_key', reason: expect.stringMatching(/not given to the rotation: one of its owner's own \(SET pg_llm.master_key\)/) },
      { instanceName: 'bobm', owner: bobs, column: 'encrypted_config', reason: expect.stringMatching(/not given to the rotation/) },
      { instanceName: 'junk', owner: bobs, column: 'encrypted_api_key', reason: expect.stringMatching(/not given to the rotation/) },
      { instanceName: 'junk too', owner: bobs, column: 'encrypted_api_key', reason: expect.stringMatching(/names one of the given master keys but does not open with it/) },
    ]);

    // What no given key opens is as it was, read proofs included; the rest is the new key's.
    const blobsAfter = await sealedBlobs(direct);
    const proofsAfter = await readProofs(direct);
    for (const instance of ['bobm', 'junk', 'junk too']) {
      expect(blobsAfter.find((row) => row.instance_name === instance)).toEqual(blobsBefore.find((row) => row.instance_name === instance));
      expect(proofsAfter.find((row) => row.instance_name === instance)).toEqual(proofsBefore.find((row) => row.instance_name === instance));
    }
    for (const instance of ['llm', 'alicem']) {
      const row = blobsAfter.find((blobs) => blobs.instance_name === instance)!;
      for (const blob of [row.encrypted_api_key, row.encrypted_config]) expect(sealedWith(blob, masterKey(K2))).toBe(true);
    }

    // Everyone's models still answer: the operator's with the new key, bob's with his own.
    const { port: newPort } = await proxyWith(K2);
    const onNewKey = await client(newPort, name);
    expect(await authorizationSent(onNewKey)).toBe(`Bearer ${API_KEY}`);
    const bobAgain = new pg.Client(connection(newPort, 'password', name));
    await bobAgain.connect();
    afterThisTest(() => bobAgain.end());
    await bobAgain.query(`SET pg_llm.master_key = '${BOB_KEY}'`);
    fake.script({ kind: 'answer', content: 'bob still here' });
    expect((await bobAgain.query(`SELECT pg_llm_chat('bobm', 'ping') AS a`)).rows).toEqual([{ a: 'bob still here' }]);
  });

  it('re-seals a blob the old key sealed whatever key its header names, so no role can make it look left or current', async () => {
    const { name, direct } = await registered(K1, 'llm');
    // Bob holds the old key (it leaked) and stores secrets it sealed, their key ids changed: one names no key, one the new key.
    const bobDirect = await connectAs('password', name);
    const config = { model_name: 'gpt-test', base_url: fake.baseUrl, max_retries: 0 };
    const where = (instance: string) => ({ database: name, instanceName: instance, owner: 'password_user', modelType: 'openai_compatible' });
    let shown: unknown;
    for (const [instance, id] of [['renamed', randomBytes(8)], ['posing', masterKey(K2).id]] as const) {
      const columns = sealedColumns(where(instance), config, API_KEY, masterKey(K1));
      shown = columns.config;
      const blob = Buffer.from(columns.encryptedApiKey!, 'base64');
      id.copy(blob, 1);
      await bobDirect.query(
        `INSERT INTO _pg_llm_catalog.pg_llm_models (instance_name, model_type, config, encrypted_api_key, read_proof_sha256) VALUES ($1, 'openai_compatible', $2, $3, decode($4, 'base64'))`,
        [instance, JSON.stringify(columns.config), blob, columns.readProofDigest],
      );
    }

    const rotated = await rotate(name, { PG_LLM_MASTER_KEY: K1, PG_LLM_NEW_MASTER_KEY: K2 });
    expect(rotated.code).toBe(0);
    expect(rotated.logged.at(-1)).toMatchObject({ resealed: 4, alreadyCurrent: 0, left: 0 });
    const after = await sealedBlobs(direct);
    for (const instance of ['renamed', 'posing']) {
      const blob = after.find((row) => row.instance_name === instance)!.encrypted_api_key;
      expect(sealedWith(blob, masterKey(K2))).toBe(true);
      const binding = secretBinding({ ...where(instance), visibleConfig: shown }, 'encrypted_api_key');
      expect(openWithAny(blob, [masterKey(K1)], binding)).toBeUndefined();
      expect(open(blob, [masterKey(K2)], binding)).toBe(API_KEY);
    }
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
