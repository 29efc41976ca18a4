// A model's base_url is resolved with dns.lookup, i.e. getaddrinfo on libuv's threadpool (four threads), which
// master-key derivations (scrypt) share. One role that registers models whose host names resolve slowly (a domain of
// its own whose name server never answers) and calls them from many sessions holds one thread (host-policy.ts), so
// another role's model calls by host name and its SET pg_llm.master_key go on. Here the proxy runs in a mount
// namespace of its own whose resolv.conf names a server on loopback that reads every query and answers none (root
// and unshare(1) needed, as on the machines the suite runs on).

import dgram from 'node:dgram';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launch, listening, MAIN, type Running } from '../support/command.js';
import { freePort } from '../support/cluster.js';
import { freshDatabase } from '../support/database.js';
import { startFakeProvider, type FakeProvider } from '../support/fake-provider.js';
import { cluster, connection, type Role } from '../support/proxy.js';

const SILENT_SERVER = '127.53.53.53';
/** A mount namespace of the proxy's own needs root and unshare(1); elsewhere (a developer's own account) it is skipped. */
const ISOLATED = process.getuid?.() === 0 && existsSync('/usr/bin/unshare');
const HEX_MASTER_KEY = 'ab'.repeat(32);
/** Twice the pool's threads: its first four lookups hold it, the next four are queued ahead of the victim's. */
const ATTACKER_SESSIONS = 8;

let fake: FakeProvider;
let dns: dgram.Socket;
/** The source ports of the lookups that reached the silent server: some did, so the attacker's are under way. */
const lookups = new Set<number>();
let proxy: Running;
let port: number;

beforeAll(async () => {
  if (!ISOLATED) return;
  fake = await startFakeProvider();
  dns = dgram.createSocket('udp4');
  dns.on('message', (_query, from) => lookups.add(from.port));
  await new Promise<void>((resolve) => dns.bind(53, SILENT_SERVER, resolve));
  const directory = mkdtempSync(path.join(tmpdir(), 'slow-dns-'));
  const resolvConf = path.join(directory, 'resolv.conf');
  writeFileSync(resolvConf, `nameserver ${SILENT_SERVER}\noptions timeout:20 attempts:1\n`);
  port = await freePort();
  const proxyArgs = ['--listen', `127.0.0.1:${port}`, '--upstream', `postgres://127.0.0.1:${cluster().port}/?sslmode=disable`, '--admin', 'off'];
  const inNamespace = `mount --bind '${resolvConf}' /etc/resolv.conf && exec "$0" "$@"`;
  proxy = launch(['-m', 'sh', '-c', inNamespace, process.execPath, MAIN, ...proxyArgs], { PG_LLM_MASTER_KEY: HEX_MASTER_KEY }, 'unshare');
});

afterAll(async () => {
  proxy?.child.kill('SIGKILL');
  await proxy?.exited;
  dns?.close();
  await fake?.close();
});

async function session(role: Role, database: string): Promise<pg.Client> {
  const client = new pg.Client(connection(port, role, database));
  client.on('error', () => undefined);
  await client.connect();
  return client;
}

describe.skipIf(!ISOLATED)("one role's slow-resolving base_url", () => {
  it("does not hold up another role's model call by host name, nor its SET pg_llm.master_key", async () => {
    await listening(proxy);
    const { name } = await freshDatabase();
    const owner = await session('postgres', name);
    await owner.query('CREATE EXTENSION pg_llm');
    const fakePort = new URL(fake.baseUrl).port;
    const ours = { model_name: 'gpt-test', base_url: `http://localhost:${fakePort}/v1`, max_retries: 0 };
    await owner.query(`SELECT pg_llm_add_model(false, 'openai_compatible', 'ours', NULL, $1)`, [JSON.stringify(ours)]);
    const attacker = await session('trust', name);
    for (let i = 0; i < ATTACKER_SESSIONS; i++) {
      const slow = { model_name: 'slow', base_url: `http://never-answers-${i}.slow-dns.test:${fakePort}/v1`, max_retries: 0 };
      await attacker.query(`SELECT pg_llm_add_model(false, 'openai_compatible', $1, NULL, $2)`, [`slow${i}`, JSON.stringify(slow)]);
    }

    const sessions = await Promise.all(Array.from({ length: ATTACKER_SESSIONS }, () => session('trust', name)));
    const attacks = sessions.map((client, i) => client.query(`SELECT pg_llm_chat($1, 'hold a thread')`, [`slow${i}`]));
    const attackerDone = Promise.race(attacks.map((attack) => attack.then(() => 'the attacker' as const, () => 'the attacker' as const)));
    // The threads of the pool are in getaddrinfo, waiting for the silent server.
    await expect.poll(() => lookups.size, { timeout: 20_000 }).toBeGreaterThan(0);

    fake.script({ kind: 'answer', content: 'not held up' });
    const victim = (async () => {
      await owner.query(`SET pg_llm.master_key = 'a passphrase of the victim'`);
      const answer = (await owner.query(`SELECT pg_llm_chat('ours', 'a question') AS a`)).rows[0].a;
      return answer === 'not held up' ? ('the victim' as const) : answer;
    })();
    // Ordering, not time: the victim's work needs no answer from the silent server, so it should end first.
    expect(await Promise.race([victim, attackerDone])).toBe('the victim');
    await Promise.allSettled([victim, ...attacks]);
    await Promise.all([owner, attacker, ...sessions].map((client) => client.end().catch(() => undefined)));
  }, 120_000);
});
