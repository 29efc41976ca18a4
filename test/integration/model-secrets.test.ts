// Model secrets as a second role would go after them: alice registers a model with her key against her provider;
// bob, an ordinary role with a provider of his own, tries to read her sealed key, to move it into a row of his (through
// the proxy and directly on the database), and to change her row; an admin retargets her row. The key may reach
// alice's provider, never bob's. Catalogs of an earlier version, whose secrets are not bound to their rows, are bound
// by the catalog upgrade: only the blobs the catalog held when it began binding, and none that was copied; the
// credentials such a version left in configs bob reads are sealed by it, and secrets bound to a config kept aside
// are bound again to the config shown.

import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { masterKey, open, seal, sealText } from '../../src/crypto/secrets.js';
import { readProof, readProofDigest, secretBinding } from '../../src/catalog/secret-binding.js';
import { migrate, shippedMigrations } from '../../src/catalog/migrate.js';
import { freePort } from '../support/cluster.js';
import { launch, listening } from '../support/command.js';
import { afterThisTest, freshDatabase } from '../support/database.js';
import { unboundBlob, unboundText } from '../support/earlier-version.js';
import { startFakeProvider, type FakeProvider } from '../support/fake-provider.js';
import { cluster, connection, startProxy, type TestProxy } from '../support/proxy.js';
import { roles } from '../support/roles.js';

const MASTER_KEY = 'model secrets master key';
const ALICE_KEY = 'sk-alice-0123456789abcdef';
const BOB_KEY = 'sk-bob-fedcba9876543210';
const MODELS = '_pg_llm_catalog.pg_llm_models';

let proxy: TestProxy;
let alicesProvider: FakeProvider;
let bobsProvider: FakeProvider;
beforeAll(async () => {
  proxy = await startProxy({ masterKey: MASTER_KEY });
  alicesProvider = await startFakeProvider();
  bobsProvider = await startFakeProvider();
});
afterAll(async () => {
  await proxy.stop();
  await alicesProvider.close();
  await bobsProvider.close();
});

/** A session as `role`, through the proxy or straight to the database. */
async function session(database: string, role: string | undefined, through: 'proxy' | 'database'): Promise<pg.Client> {
  const client = new pg.Client(connection(through === 'proxy' ? proxy.port : cluster().port, 'postgres', database));
  await client.connect();
  afterThisTest(() => client.end());
  if (role) await client.query(`SET ROLE ${role}`);
  return client;
}

/** No secret-bearing config: the row's own config, base_url included, decides where the key goes. */
function modelConfig(provider: FakeProvider): string {
  return JSON.stringify({ provider: 'openai_compatible', model_name: 'gpt-test', base_url: provider.baseUrl, max_retries: 0 });
}

async function setup() {
  const [alice, bob, admin] = await roles('alice', 'bob', 'admin');
  const { name, client: direct } = await freshDatabase();
  const installer = await session(name, undefined, 'proxy');
  await installer.query('CREATE EXTENSION pg_llm');
  await direct.query(`INSERT INTO _pg_llm_catalog.pg_llm_config VALUES ('admin_role', $1) ON CONFLICT (name) DO UPDATE SET value = excluded.value`, [admin]);
  const asAlice = await session(name, alice, 'proxy');
  await asAlice.query(`SELECT pg_llm_add_model(false, 'openai_compatible', 'alices', $1, $2)`, [ALICE_KEY, modelConfig(alicesProvider)]);
  const asBob = await session(name, bob, 'proxy');
  await asBob.query(`SELECT pg_llm_add_model(false, 'openai_compatible', 'bobs', $1, $2)`, [BOB_KEY, modelConfig(bobsProvider)]);
  alicesProvider.requests.length = 0;
  bobsProvider.requests.length = 0;
  return { name, direct, alice, bob, admin, asAlice, asBob };
}

function keysSentTo(provider: FakeProvider): Array<string | undefined> {
  return provider.requests.map((request) => request.authorization);
}

describe('a sealed key', () => {
  it('opens only in the row it was sealed for: copied into another role\'s row, through the proxy or directly, it is refused', async () => {
    const { name, direct, bob, asBob } = await setup();
    const alicesBlob = (await direct.query(`SELECT encrypted_api_key FROM ${MODELS} WHERE instance_name = 'alices'`)).rows[0].encrypted_api_key as Buffer;
    const bobDirect = await session(name, bob, 'database');

    await bobDirect.query(`UPDATE ${MODELS} SET encrypted_api_key = $1 WHERE instance_name = 'bobs'`, [alicesBlob]);
    await expect(asBob.query(`SELECT pg_llm_chat('bobs', 'hi')`)).rejects.toMatchObject({ code: '28000', message: expect.stringContaining('"bobs"') });
    await asBob.query(`INSERT INTO ${MODELS} (instance_name, model_type, config, encrypted_api_key) VALUES ('copied', 'openai_compatible', $1, $2)`, [
      modelConfig(bobsProvider),
      alicesBlob,
    ]);
    await expect(asBob.query(`SELECT pg_llm_chat('copied', 'hi')`)).rejects.toMatchObject({ code: '28000' });
    expect(keysSentTo(bobsProvider)).toEqual([]);

    // Every role may still use alice's model, with her key, at her provider.
    alicesProvider.script({ kind: 'answer', content: 'from alice' });
    expect((await asBob.query(`SELECT pg_llm_chat('alices', 'hi') AS a`)).rows).toEqual([{ a: 'from alice' }]);
    expect(keysSentTo(alicesProvider)).toEqual([`Bearer ${ALICE_KEY}`]);
  });

  it("sealed for a config file (pg-llm-proxy seal-secret) opens in no model row, even once the catalog is upgraded", async () => {
    const { name, asBob } = await setup();
    const configFileValue = sealText('sk-operator-default-key-42', masterKey(MASTER_KEY));
    await asBob.query(`INSERT INTO ${MODELS} (instance_name, model_type, config, encrypted_api_key) VALUES ('mine', 'openai_compatible', $1, decode($2, 'base64'))`, [
      modelConfig(bobsProvider),
      configFileValue.replace(/^sealed:v\d+:/, ''),
    ]).catch(() => undefined);
    await session(name, undefined, 'proxy').then((installer) => installer.query('ALTER EXTENSION pg_llm UPDATE'));

    await asBob.query(`SELECT pg_llm_chat('mine', 'hi')`).catch(() => undefined);
    expect(keysSentTo(bobsProvider)).toEqual([]);
  });

  it("is not used on the word of another database's catalog that it belongs to the database it was sealed in", async () => {
    const { name, direct } = await setup();
    // As a superuser of alice's database could read it (no other role can: sealed_model() demands a read proof).
    const { rows } = await direct.query(`SELECT encode(encrypted_api_key, 'base64') AS blob, created_by, config::text AS config FROM ${MODELS} WHERE instance_name = 'alices'`);
    // A database of bob's, whose catalog he controls: its sealed_model() claims alice's row in alice's database.
    const { name: bobsDatabase, client: bobsDirect } = await freshDatabase();
    await session(bobsDatabase, undefined, 'proxy').then((installer) => installer.query('CREATE EXTENSION pg_llm'));
    await bobsDirect.query(`CREATE OR REPLACE FUNCTION _pg_llm_catalog.sealed_model(instance text, read_proofs bytea[])
      RETURNS TABLE (database name, model_type text, local_model boolean, config jsonb, created_by name, proof_recorded boolean, encrypted_api_key bytea, encrypted_config bytea, bound_config jsonb)
      LANGUAGE sql AS $$ SELECT ${bobsDirect.escapeLiteral(name)}::name, 'openai_compatible', false, ${bobsDirect.escapeLiteral(rows[0].config)}::jsonb, ${bobsDirect.escapeLiteral(rows[0].created_by)}::name,
                            true, decode(${bobsDirect.escapeLiteral(rows[0].blob)}, 'base64'), NULL::bytea, NULL::jsonb $$`);
    const inBobsDatabase = await session(bobsDatabase, undefined, 'proxy');

    await expect(inBobsDatabase.query(`SELECT pg_llm_chat('alices', 'hi')`)).rejects.toMatchObject({ code: '28000' });
    expect(keysSentTo(alicesProvider)).toEqual([]);
  });

  it('is unreadable to other roles, whose writes reach only their own rows', async () => {
    const { name, alice, bob, asBob } = await setup();
    const bobDirect = await session(name, bob, 'database');
    for (const column of ['encrypted_api_key', 'encrypted_config']) {
      await expect(bobDirect.query(`SELECT ${column} FROM ${MODELS}`)).rejects.toMatchObject({ code: '42501' });
    }
    await expect(bobDirect.query(`SELECT * FROM ${MODELS}`)).rejects.toMatchObject({ code: '42501' });
    expect((await bobDirect.query(`SELECT instance_name, created_by FROM ${MODELS} ORDER BY 1`)).rows).toEqual([
      { instance_name: 'alices', created_by: alice },
      { instance_name: 'bobs', created_by: bob },
    ]);

    expect((await bobDirect.query(`UPDATE ${MODELS} SET config = '{}' WHERE instance_name = 'alices'`)).rowCount).toBe(0);
    expect((await bobDirect.query(`UPDATE ${MODELS} SET deleted = true WHERE instance_name = 'alices'`)).rowCount).toBe(0);
    await expect(bobDirect.query(`DELETE FROM ${MODELS} WHERE instance_name = 'alices'`)).rejects.toMatchObject({ code: '42501' });
    await expect(bobDirect.query(`INSERT INTO ${MODELS} (instance_name, model_type, created_by) VALUES ('forged', 'mock', $1)`, [alice])).rejects.toMatchObject({ code: '42501' });
    await expect(bobDirect.query(`UPDATE ${MODELS} SET created_by = $1 WHERE instance_name = 'bobs'`, [alice])).rejects.toMatchObject({ code: '42501' });
    await expect(bobDirect.query(`UPDATE ${MODELS} SET instance_name = 'renamed' WHERE instance_name = 'bobs'`)).rejects.toMatchObject({ code: '42501' });
    await expect(asBob.query(`SELECT pg_llm_add_model(false, 'openai_compatible', 'alices', $1, $2)`, [BOB_KEY, modelConfig(bobsProvider)])).rejects.toMatchObject({
      code: '42501',
    });
    expect((await asBob.query(`SELECT pg_llm_remove_model('alices') AS removed`)).rows).toEqual([{ removed: false }]);
  });

  it('is handed out by sealed_model() only to a holder of the master key that sealed it', async () => {
    const { name, direct, bob, asBob } = await setup();
    const alicesBlob = (await direct.query(`SELECT encode(encrypted_api_key, 'hex') AS blob FROM ${MODELS} WHERE instance_name = 'alices'`)).rows[0].blob as string;
    const bobDirect = await session(name, bob, 'database');
    // Among the guesses, the proof the proxy sends for the same name in another database: a role owning one, whose
    // catalog it controls, could capture it there with a sealed_model() of its own.
    const elsewhereProof = readProof(masterKey(MASTER_KEY), `${name}_other`, 'alices');
    const guesses = [`{}`, `{"\\\\x${'00'.repeat(32)}"}`, `{"\\\\x${readProof(masterKey('another master key'), name, 'alices').toString('hex')}"}`, `{"\\\\x${elsewhereProof.toString('hex')}"}`];
    for (const client of [asBob, bobDirect]) {
      for (const proofs of guesses) {
        const { rows } = await client.query(`SELECT encode(encrypted_api_key, 'hex') AS blob, proof_recorded FROM _pg_llm_catalog.sealed_model('alices', $1)`, [proofs]);
        expect(rows).toEqual([{ blob: '02', proof_recorded: true }]);
      }
    }
    await expect(bobDirect.query(`SELECT read_proof_sha256 FROM ${MODELS}`)).rejects.toMatchObject({ code: '42501' });
    await expect(bobDirect.query(`SELECT * FROM _pg_llm_catalog.sealed_model('alices')`)).rejects.toMatchObject({ code: '42883' });
    // The right proof, as only the proxy can make it, is what the proxy sends.
    const proof = readProof(masterKey(MASTER_KEY), name, 'alices').toString('hex');
    const { rows } = await bobDirect.query(`SELECT encode(encrypted_api_key, 'hex') AS blob FROM _pg_llm_catalog.sealed_model('alices', $1)`, [`{"\\\\x${proof}"}`]);
    expect(rows).toEqual([{ blob: alicesBlob }]);
    // A proxy on another master key reads no blob either, and says why.
    const elsewhere = await startProxy({ masterKey: 'another master key' });
    afterThisTest(() => elsewhere.stop());
    const onOtherKey = new pg.Client(connection(elsewhere.port, 'postgres', name));
    await onOtherKey.connect();
    afterThisTest(() => onOtherKey.end());
    await expect(onOtherKey.query(`SELECT pg_llm_chat('alices', 'hi')`)).rejects.toMatchObject({ code: '28000', message: expect.stringContaining('none of the configured master keys sealed them') });
    expect(keysSentTo(alicesProvider)).toEqual([]);
  });

  it('retargeted by an admin with UPDATE no longer opens, so the key goes nowhere', async () => {
    const { name, admin, asBob } = await setup();
    const adminDirect = await session(name, admin, 'database');
    const retargeted = await adminDirect.query(`UPDATE ${MODELS} SET config = jsonb_set(config, '{base_url}', to_jsonb($1::text)) WHERE instance_name = 'alices'`, [
      bobsProvider.baseUrl,
    ]);
    expect(retargeted.rowCount).toBe(1);
    await expect(asBob.query(`SELECT pg_llm_chat('alices', 'hi')`)).rejects.toMatchObject({
      code: '28000',
      hint: expect.stringContaining('registered again'),
    });
    expect(keysSentTo(bobsProvider)).toEqual([]);
    expect(keysSentTo(alicesProvider)).toEqual([]);
  });
});

describe('registering models', () => {
  it('is open to every role until pg_llm_config names a register_role', async () => {
    const { direct, alice, asAlice, asBob } = await setup();
    await direct.query(`INSERT INTO _pg_llm_catalog.pg_llm_config (name, value) VALUES ('register_role', $1)`, [alice]);
    await expect(asBob.query(`SELECT pg_llm_add_model(false, 'mock', 'squatted', NULL, '{}')`)).rejects.toMatchObject({
      code: '42501',
      hint: expect.stringContaining('register_role'),
    });
    await expect(asBob.query(`SELECT pg_llm_add_model(false, 'openai_compatible', 'bobs', $1, $2)`, [BOB_KEY, modelConfig(alicesProvider)])).rejects.toMatchObject({
      code: '42501',
    });
    await asAlice.query(`SELECT pg_llm_add_model(false, 'mock', 'another', NULL, '{}')`);
  });
});

describe('a catalog of an earlier version', () => {
  /** A catalog at the level before secrets were bound, with alice's key sealed as that version sealed it. */
  async function earlierCatalog() {
    const [alice, bob] = await roles('alice', 'bob');
    const { name, client: direct } = await freshDatabase();
    const before = shippedMigrations().filter((migration) => migration.name < '0007');
    await migrate(direct, before);
    const unbound = (secret: string) => unboundBlob(secret, masterKey(MASTER_KEY));
    const insert = `INSERT INTO ${MODELS} (instance_name, model_type, config, encrypted_api_key, created_by) VALUES ($1, 'openai_compatible', $2, $3, $4)`;
    const alicesBlob = unbound(ALICE_KEY);
    await direct.query(insert, ['alices', modelConfig(alicesProvider), alicesBlob, alice]);
    // bob's copy of her blob, made while the catalog let him: it must not become his by the upgrade.
    await direct.query(insert, ['copied', modelConfig(bobsProvider), alicesBlob, bob]);
    await direct.query(insert, ['other', modelConfig(alicesProvider), unbound('sk-other-key-000111222'), alice]);
    return { name, direct, alice, bob };
  }

  it('has its secrets bound to their rows by ALTER EXTENSION pg_llm UPDATE, which warns of those it cannot bind', async () => {
    const { name } = await earlierCatalog();
    const client = await session(name, undefined, 'proxy');
    await expect(client.query(`SELECT pg_llm_chat('alices', 'hi')`)).rejects.toMatchObject({ code: '55000', hint: expect.stringContaining('ALTER EXTENSION pg_llm UPDATE') });

    const notices: Array<{ severity?: string; code?: string; message?: string }> = [];
    client.on('notice', (notice) => notices.push(notice));
    await client.query('ALTER EXTENSION pg_llm UPDATE');
    expect(notices).toHaveLength(1);
    expect(notices[0]).toMatchObject({ severity: 'WARNING', code: '01000' });
    expect(notices[0]!.message).toContain('"alices" (the same sealed value was stored in another model instance)');
    expect(notices[0]!.message).toContain('"copied"');
    expect(notices[0]!.message).not.toContain('"other"');
    expect(JSON.stringify(notices)).not.toContain(ALICE_KEY);

    alicesProvider.script({ kind: 'answer', content: 'bound' });
    expect((await client.query(`SELECT pg_llm_chat('other', 'hi') AS a`)).rows).toEqual([{ a: 'bound' }]);
    expect(keysSentTo(alicesProvider).at(-1)).toBe('Bearer sk-other-key-000111222');
    for (const instance of ['alices', 'copied']) {
      await expect(client.query(`SELECT pg_llm_chat($1, 'hi')`, [instance])).rejects.toMatchObject({
        code: '28000',
        hint: expect.stringContaining('ALTER EXTENSION pg_llm UPDATE'),
      });
    }
    expect(keysSentTo(bobsProvider)).toEqual([]);
  });

  it("keeps a copy refused for good: alice registering again, as the warning says, does not make bob's copy his by the next upgrade", async () => {
    const { name, alice } = await earlierCatalog();
    const installer = await session(name, undefined, 'proxy');
    await installer.query('ALTER EXTENSION pg_llm UPDATE');
    const asAlice = await session(name, alice, 'proxy');
    await asAlice.query(`SELECT pg_llm_add_model(false, 'openai_compatible', 'alices', $1, $2)`, [ALICE_KEY, modelConfig(alicesProvider)]);
    await installer.query('ALTER EXTENSION pg_llm UPDATE');

    await expect(installer.query(`SELECT pg_llm_chat('copied', 'hi')`)).rejects.toMatchObject({ code: '28000' });
    expect(keysSentTo(bobsProvider)).toEqual([]);
  });

  it('binds no unbound blob stored after the upgrade: sealed_model() hands out none, and no role may write one', async () => {
    const { name, direct, alice, bob } = await earlierCatalog();
    await direct.query(`DELETE FROM ${MODELS} WHERE instance_name = 'copied'`);
    await migrate(direct); // without the master key: alice's blob stays unbound
    const asBob = await session(name, bob, 'proxy');
    const { rows } = await asBob.query(`SELECT encode(encrypted_api_key, 'hex') AS blob FROM _pg_llm_catalog.sealed_model('alices', '{}')`);
    expect(rows).toEqual([{ blob: '01' }]);
    // What bob could have kept from the earlier version, when the column was readable, and a config file's sealed key.
    const written = [unboundBlob(ALICE_KEY, masterKey(MASTER_KEY)), Buffer.from(unboundText('sk-operator-key-4242', masterKey(MASTER_KEY)).slice('sealed:v1:'.length), 'base64')];
    for (const blob of written) {
      await expect(asBob.query(`INSERT INTO ${MODELS} (instance_name, model_type, config, encrypted_api_key) VALUES ('mine', 'openai_compatible', $1, $2)`, [modelConfig(bobsProvider), blob])).rejects.toMatchObject({
        code: '23514',
      });
    }
    await asBob.query(`INSERT INTO ${MODELS} (instance_name, model_type, config) VALUES ('mine', 'openai_compatible', $1)`, [modelConfig(bobsProvider)]);
    await expect(asBob.query(`UPDATE ${MODELS} SET encrypted_config = $1 WHERE instance_name = 'mine'`, [written[0]])).rejects.toMatchObject({ code: '23514' });
    // An administrator may not either: a blob is written unbound only by an earlier version.
    await expect(direct.query(`UPDATE ${MODELS} SET encrypted_api_key = $1 WHERE instance_name = 'mine'`, [written[0]])).rejects.toMatchObject({ code: '23514' });
    const asAlice = await session(name, alice, 'proxy');
    await asAlice.query(`SELECT pg_llm_add_model(false, 'openai_compatible', 'alices', $1, $2)`, [ALICE_KEY, modelConfig(alicesProvider)]);
    await session(name, undefined, 'proxy').then((installer) => installer.query('ALTER EXTENSION pg_llm UPDATE'));

    await asBob.query(`SELECT pg_llm_chat('mine', 'hi')`).catch(() => undefined);
    expect(keysSentTo(bobsProvider)).not.toContain(`Bearer ${ALICE_KEY}`);
  });

  it('has its secrets bound by pg-llm-proxy migrate given the master key, and named (never shown) without it', async () => {
    const { name, direct } = await earlierCatalog();
    await direct.query(`DELETE FROM ${MODELS} WHERE instance_name = 'copied'`);
    const url = `postgres://postgres@127.0.0.1:${cluster().port}/${name}`;
    const run = async (env: NodeJS.ProcessEnv) => {
      const running = launch(['migrate', '--database-url', url], { PG_LLM_MASTER_KEY: '', PG_LLM_PREVIOUS_MASTER_KEYS: '', ...env });
      expect(await running.exited).toBe(0);
      expect(running.output()).not.toContain(ALICE_KEY);
      expect(running.output()).not.toContain(MASTER_KEY);
      return running.output().trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
    };

    const keyless = await run({});
    expect(keyless.at(-1)).toMatchObject({ level: 40, unusable: [{ instanceName: 'alices', reason: 'no master key is configured' }, { instanceName: 'other' }] });
    const client = await session(name, undefined, 'proxy');
    await expect(client.query(`SELECT pg_llm_chat('alices', 'hi')`)).rejects.toMatchObject({ code: '28000' });

    const keyed = await run({ PG_LLM_PREVIOUS_MASTER_KEYS: MASTER_KEY, PG_LLM_MASTER_KEY: 'the next master key' });
    expect(keyed.at(-1)).toMatchObject({ level: 30, msg: expect.stringContaining('already up to date') });
    alicesProvider.script({ kind: 'answer', content: 'bound' });
    const onNextKey = await startProxy({ masterKey: 'the next master key' });
    afterThisTest(() => onNextKey.stop());
    const next = new pg.Client(connection(onNextKey.port, 'postgres', name));
    await next.connect();
    afterThisTest(() => next.end());
    expect((await next.query(`SELECT pg_llm_chat('alices', 'hi') AS a`)).rows).toEqual([{ a: 'bound' }]);
    expect(keysSentTo(alicesProvider).at(-1)).toBe(`Bearer ${ALICE_KEY}`);
  });
});

describe('a catalog sealed before read proofs', () => {
  it('records them at ALTER EXTENSION pg_llm UPDATE with the master key, and warns of those it cannot', async () => {
    const [alice] = await roles('alice');
    const { name, client: direct } = await freshDatabase();
    await migrate(direct, shippedMigrations().filter((migration) => migration.name < '0014'));
    const insert = async (instance: string, key: string, sealedWith: string) => {
      const config = JSON.parse(modelConfig(alicesProvider)) as Record<string, unknown>;
      const identity = { database: name, instanceName: instance, owner: alice, modelType: 'openai_compatible', visibleConfig: config };
      const blob = seal(key, masterKey(sealedWith), secretBinding(identity, 'encrypted_api_key'));
      await direct.query(`INSERT INTO ${MODELS} (instance_name, model_type, config, encrypted_api_key, created_by) VALUES ($1, 'openai_compatible', $2, $3, $4)`, [instance, JSON.stringify(config), blob, alice]);
    };
    await insert('alices', ALICE_KEY, MASTER_KEY);
    await insert('forgotten', 'sk-sealed-with-a-lost-key-99', 'a master key nobody kept');
    const client = await session(name, undefined, 'proxy');
    await expect(client.query(`SELECT pg_llm_chat('alices', 'hi')`)).rejects.toMatchObject({ code: '55000' });

    const notices: Array<{ code?: string; message?: string }> = [];
    client.on('notice', (notice) => notices.push(notice));
    await client.query('ALTER EXTENSION pg_llm UPDATE');
    expect(notices).toEqual([expect.objectContaining({ code: '01000', message: expect.stringContaining('"forgotten" (none of the configured master keys sealed it)') })]);
    alicesProvider.script({ kind: 'answer', content: 'proven' });
    expect((await client.query(`SELECT pg_llm_chat('alices', 'hi') AS a`)).rows).toEqual([{ a: 'proven' }]);
    expect(keysSentTo(alicesProvider).at(-1)).toBe(`Bearer ${ALICE_KEY}`);
    const { rows } = await direct.query(`SELECT encode(encrypted_api_key, 'hex') AS blob FROM _pg_llm_catalog.sealed_model('forgotten', '{}')`);
    expect(rows).toEqual([{ blob: '02' }]);
  });
});

describe('a catalog whose configs showed the last characters of their secrets', () => {
  /**
   * alice's model as an earlier version wrote it: the config shown with each secret's last four characters, the sealed
   * secrets bound to that config; then upgraded without the master key, which masks the config and keeps the one the
   * secrets are bound to in bound_config (0019_secrets_kept_to_their_owners.sql).
   */
  async function keptAside() {
    const [alice, bob, admin] = await roles('alice', 'bob', 'admin');
    const { name, client: direct } = await freshDatabase();
    await migrate(direct, shippedMigrations().filter((migration) => migration.name < '0017'));
    const token = 'tok-alice-config-token-9876';
    const config = { ...(JSON.parse(modelConfig(alicesProvider)) as Record<string, unknown>), auth_token: token };
    const shown = { ...config, auth_token: `****${token.slice(-4)}` };
    const identity = { database: name, instanceName: 'alices', owner: alice, modelType: 'openai_compatible', visibleConfig: shown };
    const master = masterKey(MASTER_KEY);
    await direct.query(
      `INSERT INTO ${MODELS} (instance_name, model_type, api_key, config, encrypted_api_key, encrypted_config, read_proof_sha256, created_by)
       VALUES ('alices', 'openai_compatible', $1, $2, $3, $4, $5, $6)`,
      [
        `****${ALICE_KEY.slice(-4)}`,
        JSON.stringify(shown),
        seal(ALICE_KEY, master, secretBinding(identity, 'encrypted_api_key')),
        seal(JSON.stringify(config), master, secretBinding(identity, 'encrypted_config')),
        readProofDigest(master, name, 'alices'),
        alice,
      ],
    );
    await migrate(direct);
    await direct.query(`INSERT INTO _pg_llm_catalog.pg_llm_config VALUES ('admin_role', $1) ON CONFLICT (name) DO UPDATE SET value = excluded.value`, [admin]);
    expect((await direct.query(`SELECT bound_config FROM ${MODELS}`)).rows).toEqual([{ bound_config: shown }]);
    alicesProvider.requests.length = 0;
    bobsProvider.requests.length = 0;
    return { name, direct, alice, bob, admin, config };
  }

  it('shows no part of them once upgraded, and has them bound again to the config shown, bound_config gone', async () => {
    const { name, direct, alice, bob, config } = await keptAside();
    const asBob = await session(name, bob, 'database');
    const seenByBob = async () => (await asBob.query(`SELECT api_key, config FROM ${MODELS}`)).rows;
    const clean = [{ api_key: '****', config: { ...config, auth_token: '****' } }];
    expect(await seenByBob()).toEqual(clean);

    const client = await session(name, undefined, 'proxy');
    await client.query('ALTER EXTENSION pg_llm UPDATE');

    expect(await seenByBob()).toEqual(clean);
    await expect(asBob.query(`SELECT bound_config FROM ${MODELS}`)).rejects.toMatchObject({ code: '42501' });
    expect((await direct.query(`SELECT bound_config FROM ${MODELS}`)).rows).toEqual([{ bound_config: null }]);
    const row = (await direct.query(`SELECT encrypted_config FROM ${MODELS}`)).rows[0] as { encrypted_config: Buffer };
    const identity = { database: name, instanceName: 'alices', owner: alice, modelType: 'openai_compatible', visibleConfig: clean[0]!.config };
    expect(JSON.parse(open(row.encrypted_config, [masterKey(MASTER_KEY)], secretBinding(identity, 'encrypted_config')))).toEqual(config);
    alicesProvider.script({ kind: 'answer', content: 'bound again' });
    expect((await client.query(`SELECT pg_llm_chat('alices', 'hi') AS a`)).rows).toEqual([{ a: 'bound again' }]);
    expect(keysSentTo(alicesProvider).at(-1)).toBe(`Bearer ${ALICE_KEY}`);
  });

  it('takes what the secrets are bound to, never a shown config an admin rewrote meanwhile', async () => {
    const { name, admin } = await keptAside();
    const adminDirect = await session(name, admin, 'database');
    await adminDirect.query(`UPDATE ${MODELS} SET config = jsonb_set(config, '{base_url}', to_jsonb($1::text)) WHERE instance_name = 'alices'`, [bobsProvider.baseUrl]);
    const client = await session(name, undefined, 'proxy');
    await client.query('ALTER EXTENSION pg_llm UPDATE');

    expect((await adminDirect.query(`SELECT config->>'base_url' AS base_url FROM ${MODELS}`)).rows).toEqual([{ base_url: alicesProvider.baseUrl }]);
    alicesProvider.script({ kind: 'answer', content: 'still hers' });
    expect((await client.query(`SELECT pg_llm_chat('alices', 'hi') AS a`)).rows).toEqual([{ a: 'still hers' }]);
    expect(keysSentTo(alicesProvider)).toEqual([`Bearer ${ALICE_KEY}`]);
    expect(keysSentTo(bobsProvider)).toEqual([]);
  });
});

describe('a catalog whose configs hold credentials only later versions take for credentials', () => {
  const HEADER = 'org-header-secret-123';
  const HYPHENED = 'sk-hyphened-key-0456';
  const NESTED = 'tok-nested-secret-789';
  const BLOBLESS = 'org-header-of-a-model-without-a-key';
  const KEYLESS = { PG_LLM_MASTER_KEY: '', PG_LLM_PREVIOUS_MASTER_KEYS: '' };

  /**
   * alice's models as earlier versions wrote them, credentials in the config they showed every role: one with a key,
   * sealed and bound to that config, and one without a key, so with nothing sealed.
   */
  async function shownCredentials() {
    const [alice, bob] = await roles('alice', 'bob');
    const { name, client: direct } = await freshDatabase();
    await migrate(direct);
    const base = JSON.parse(modelConfig(alicesProvider)) as Record<string, unknown>;
    const keyed = { ...base, 'x-api-key': HYPHENED, default_headers: { 'X-Org': HEADER }, gateway: { access_token: NESTED } };
    const keyless = { ...base, default_headers: { 'X-Org': BLOBLESS } };
    const master = masterKey(MASTER_KEY);
    const identity = { database: name, instanceName: 'alices', owner: alice, modelType: 'openai_compatible', visibleConfig: keyed };
    await direct.query(
      `INSERT INTO ${MODELS} (instance_name, model_type, api_key, config, encrypted_api_key, read_proof_sha256, created_by)
       VALUES ('alices', 'openai_compatible', '****', $1, $2, $3, $4), ('keyless', 'openai_compatible', NULL, $5, NULL, NULL, $4)`,
      [JSON.stringify(keyed), seal(ALICE_KEY, master, secretBinding(identity, 'encrypted_api_key')), readProofDigest(master, name, 'alices'), alice, JSON.stringify(keyless)],
    );
    alicesProvider.requests.length = 0;
    const asBob = await session(name, bob, 'database');
    /** The configs bob reads, and their text. */
    const seenByBob = async () => (await asBob.query(`SELECT config FROM ${MODELS} ORDER BY instance_name`)).rows.map((row) => row.config as Record<string, unknown>);
    return { name, direct, alice, keyed, keyless, seenByBob };
  }

  /** Whether the model answers, with alice's key sent to her provider. */
  async function answers(client: pg.Client, instance: string): Promise<void> {
    alicesProvider.script({ kind: 'answer', content: `from ${instance}` });
    expect((await client.query(`SELECT pg_llm_chat($1, 'hi') AS a`, [instance])).rows).toEqual([{ a: `from ${instance}` }]);
  }

  it('has them sealed by ALTER EXTENSION pg_llm UPDATE: shown to other roles before, **** after, and the models still answer', async () => {
    const { name, direct, alice, keyed, keyless, seenByBob } = await shownCredentials();
    for (const secret of [HEADER, HYPHENED, NESTED, BLOBLESS]) expect(JSON.stringify(await seenByBob())).toContain(secret);

    const client = await session(name, undefined, 'proxy');
    await client.query('ALTER EXTENSION pg_llm UPDATE');

    const base = JSON.parse(modelConfig(alicesProvider)) as Record<string, unknown>;
    const shownNow = { alices: { ...base, 'x-api-key': '****', default_headers: { 'X-Org': '****' }, gateway: { access_token: '****' } }, keyless: { ...base, default_headers: { 'X-Org': '****' } } };
    expect(await seenByBob()).toEqual([shownNow.alices, shownNow.keyless]);
    const { rows } = await direct.query(`SELECT instance_name, encrypted_config, bound_config FROM ${MODELS} ORDER BY instance_name`);
    for (const [row, config] of [[rows[0], keyed], [rows[1], keyless]] as const) {
      const identity = { database: name, instanceName: row.instance_name as string, owner: alice, modelType: 'openai_compatible', visibleConfig: shownNow[row.instance_name as 'alices'] };
      expect(JSON.parse(open(row.encrypted_config as Buffer, [masterKey(MASTER_KEY)], secretBinding(identity, 'encrypted_config')))).toEqual(config);
      expect(row.bound_config).toBeNull();
    }
    await answers(client, 'alices');
    expect(keysSentTo(alicesProvider).at(-1)).toBe(`Bearer ${ALICE_KEY}`);
    await answers(client, 'keyless');
  });

  it('are hidden by pg-llm-proxy migrate without the master key where a key sealed the model, and the others named', async () => {
    const { name, seenByBob } = await shownCredentials();
    const migrating = launch(['migrate', '--database-url', `postgres://postgres@127.0.0.1:${cluster().port}/${name}`], KEYLESS);
    expect(await migrating.exited).toBe(0);
    expect(migrating.output()).toContain('"shown":["keyless"]');
    const seen = JSON.stringify(await seenByBob());
    for (const secret of [HEADER, HYPHENED, NESTED]) expect({ secret, seen: seen.includes(secret) }).toEqual({ secret, seen: false });
    expect(seen).toContain(BLOBLESS);
    const client = await session(name, undefined, 'proxy');
    await answers(client, 'alices');
    await answers(client, 'keyless');
  }, 60_000);

  it('are warned of by a proxy without the master key at ALTER EXTENSION pg_llm UPDATE, and sealed by one with it', async () => {
    const { name, direct, seenByBob } = await shownCredentials();
    const port = await freePort();
    const keylessProxy = launch(['--listen', `127.0.0.1:${port}`, '--upstream', `postgres://127.0.0.1:${cluster().port}/?sslmode=disable`], KEYLESS);
    afterThisTest(async () => void (keylessProxy.child.kill(), await keylessProxy.exited));
    await listening(keylessProxy);
    const throughKeyless = new pg.Client(connection(port, 'postgres', name));
    await throughKeyless.connect();
    afterThisTest(() => throughKeyless.end());
    const warned: Array<{ code?: string; message?: string }> = [];
    throughKeyless.on('notice', (notice) => warned.push(notice));
    await throughKeyless.query('ALTER EXTENSION pg_llm UPDATE');
    expect(warned).toEqual([expect.objectContaining({ code: '01000', message: expect.stringMatching(/model instances "keyless" show every role credentials/) })]);
    expect(JSON.stringify(warned)).not.toContain(BLOBLESS);
    expect(JSON.stringify(await seenByBob())).toContain(BLOBLESS);

    const client = await session(name, undefined, 'proxy');
    const notices: Array<{ code?: string; message?: string }> = [];
    client.on('notice', (notice) => notices.push(notice));
    await client.query('ALTER EXTENSION pg_llm UPDATE');
    expect(notices).toEqual([]);
    const seen = JSON.stringify(await seenByBob());
    for (const secret of [HEADER, HYPHENED, NESTED, BLOBLESS]) expect({ secret, seen: seen.includes(secret) }).toEqual({ secret, seen: false });
    expect((await direct.query(`SELECT count(*)::int AS kept FROM ${MODELS} WHERE bound_config IS NOT NULL`)).rows).toEqual([{ kept: 0 }]);
    await answers(client, 'alices');
    await answers(client, 'keyless');
  }, 60_000);
});
