// SCRAM with an auth role: the proxy authenticates the client itself (SCRAM-SHA-256-PLUS bound to its own
// certificate when the client uses TLS) and logs in upstream, over TLS and bound to it, with the ClientKey recovered
// from the client's proof. Without an auth role, authentication is relayed as before.

import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { pino } from 'pino';
import { AuthLookups } from '../../proxy/auth-lookups.js';
import type { AuthRole } from '../../proxy/auth-query.js';
import { ProxyStats } from '../../proxy/stats.js';
import { masterKey, sealText } from '../../src/crypto/secrets.js';
import { freePort, ROLES } from '../support/cluster.js';
import { launch, listening } from '../support/command.js';
import { cluster, connection, startProxy, upstreamTarget, type TestProxy } from '../support/proxy.js';
import { psql } from '../support/psql.js';
import { RawClient, serialize } from '../support/raw-client.js';
import { createAuthRole, type Lookup } from '../support/auth-role.js';

const WHO_AND_TLS = "SELECT current_user || ' ' || ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()";
const BOUND = { sslmode: 'require', channel_binding: 'require' };

let authRole: AuthRole;
let lookups: () => Promise<Lookup[]>;
let dropAuthRole: () => Promise<void>;
let proxy: TestProxy;

beforeAll(async () => {
  ({ authRole, lookups, drop: dropAuthRole } = await createAuthRole());
  proxy = await startProxy({ tls: true, passThrough: true, upstream: { sslMode: 'require' }, authRole });
});

afterAll(async () => {
  await proxy?.stop();
  await dropAuthRole?.();
});

const scram = ROLES.scram;
const ca = (): string => readFileSync(cluster().caFile, 'utf8');
const newName = (prefix: string): string => `${prefix}_${randomBytes(4).toString('hex')}`;

/** Goes as far as the proxy's server-first-message (the salt and iteration count) for the role, and leaves. */
async function challenge(port: number, user: string): Promise<void> {
  const client = await RawClient.open(port);
  try {
    client.send(serialize.startup({ user, database: 'postgres' }));
    await client.until('authenticationSASL');
    client.send(serialize.sendSASLInitialResponseMessage('SCRAM-SHA-256', 'n,,n=,r=clientnonceclientnonce'));
    await client.until('authenticationSASLContinue');
  } finally {
    client.socket.destroy();
  }
}

/** How many times the auth query has run for each of these names, and on how many backends in all. */
async function lookupsOf(...names: string[]): Promise<{ perName: number[]; backends: number }> {
  const rows = (await lookups()).filter((row) => names.includes(row.role_name));
  return {
    perName: names.map((name) => rows.filter((row) => row.role_name === name).length),
    backends: new Set(rows.map((row) => row.pid)).size,
  };
}

async function withAdmin<T>(run: (admin: pg.Client) => Promise<T>): Promise<T> {
  const admin = new pg.Client(connection(cluster().port));
  await admin.connect();
  try {
    return await run(admin);
  } finally {
    await admin.end();
  }
}

describe('with an auth role, the proxy authenticates SCRAM clients itself', () => {
  it('psql with sslmode=require and channel_binding=require logs in, TLS on both legs', async () => {
    const result = await psql(['-c', WHO_AND_TLS], { port: proxy.port, user: scram.user, password: scram.password, params: BOUND });
    expect(result.stderr).toBe('');
    expect(result.stdout.trim()).toBe(`${scram.user} true`);
  });

  it("psql over TLS with libpq's default channel_binding=prefer logs in", async () => {
    const result = await psql(['-c', 'SELECT current_user'], { port: proxy.port, user: scram.user, password: scram.password, params: { sslmode: 'require' } });
    expect(result.stderr).toBe('');
    expect(result.stdout.trim()).toBe(scram.user);
  });

  it('refuses a wrong password with FATAL 28P01, in the words PostgreSQL uses', async () => {
    const client = new pg.Client({ ...connection(proxy.port, 'scram'), password: 'wrong', ssl: { ca: ca() } });
    await expect(client.connect()).rejects.toMatchObject({ code: '28P01', severity: 'FATAL', message: `password authentication failed for user "${scram.user}"` });
    const result = await psql(['-c', 'SELECT 1'], { port: proxy.port, user: scram.user, password: 'wrong', params: BOUND });
    expect(result.status).not.toBe(0);
    expect(result.stderr).toMatch(`password authentication failed for user "${scram.user}"`);
  });

  it('refuses an unknown role exactly as PostgreSQL does, as if it existed', async () => {
    const user = `nobody_${randomBytes(4).toString('hex')}`;
    const through = await psql(['-c', 'SELECT 1'], { port: proxy.port, user, password: 'anything', params: BOUND });
    const direct = await psql(['-c', 'SELECT 1'], { port: cluster().port, user, password: 'anything', params: { sslmode: 'require' } });
    expect(through.status).not.toBe(0);
    expect(through.stderr).toMatch(`FATAL:  password authentication failed for user "${user}"`);
    expect(through.stderr.replace(/port \d+/g, 'port N')).toBe(direct.stderr.replace(/port \d+/g, 'port N'));
    const client = new pg.Client({ ...connection(proxy.port, 'scram'), user, password: 'anything', ssl: { ca: ca() } });
    await expect(client.connect()).rejects.toMatchObject({ code: '28P01', message: `password authentication failed for user "${user}"` });
  });

  it('node-postgres with enableChannelBinding logs in, over TLS and over plain TCP', async () => {
    for (const ssl of [{ ca: ca() }, false]) {
      const client = new pg.Client({ ...connection(proxy.port, 'scram'), ssl, enableChannelBinding: true });
      await client.connect();
      expect((await client.query('SELECT current_user AS who')).rows).toEqual([{ who: scram.user }]);
      await client.end();
    }
  });

  it('postgres.js logs in over TLS', async () => {
    const sql = postgres({ ...connection(proxy.port, 'scram'), ssl: { ca: ca() }, max: 1, onnotice: () => {} });
    expect(await sql`SELECT current_user AS who`).toEqual([{ who: scram.user }]);
    await sql.end();
  });

  it('relays trust, password and md5 as before', async () => {
    for (const method of ['trust', 'password', 'md5'] as const) {
      const role = ROLES[method];
      const result = await psql(['-c', 'SELECT current_user'], { port: proxy.port, user: role.user, password: role.password, params: { sslmode: 'require' } });
      expect(result.stderr).toBe('');
      expect(result.stdout.trim()).toBe(role.user);
    }
  });

  it('a changed password counts at once: the new one logs in, the old one no more', async () => {
    const user = `changing_${randomBytes(4).toString('hex')}`;
    const admin = new pg.Client(connection(cluster().port));
    await admin.connect();
    await admin.query(`CREATE ROLE ${user} LOGIN PASSWORD 'first'`);
    try {
      const login = (password: string) => psql(['-c', 'SELECT current_user'], { port: proxy.port, user, password, params: BOUND });
      expect((await login('first')).stdout.trim()).toBe(user);
      await admin.query(`ALTER ROLE ${user} PASSWORD 'second'`);
      expect((await login('second')).stdout.trim()).toBe(user);
      expect((await login('first')).stderr).toMatch(`password authentication failed for user "${user}"`);
    } finally {
      await admin.query(`DROP ROLE ${user}`);
      await admin.end();
    }
  });

  it('asks about a name once in 30 seconds, kept alike whether it is a role with a SCRAM secret or not', async () => {
    const [unknown, md5Only, known] = [newName('nobody'), newName('md5only'), newName('known')];
    await withAdmin(async (admin) => {
      await admin.query(`CREATE ROLE ${known} LOGIN PASSWORD 'x'`);
      await admin.query(`SET password_encryption = 'md5'; CREATE ROLE ${md5Only} LOGIN PASSWORD 'x'`);
    });
    try {
      for (let round = 0; round < 2; round++) for (const user of [unknown, md5Only, known]) await challenge(proxy.port, user);
      expect((await lookupsOf(unknown, md5Only, known)).perName).toEqual([1, 1, 1]);
    } finally {
      await withAdmin((admin) => admin.query(`DROP ROLE ${known}; DROP ROLE ${md5Only}`));
    }
  });

  it('after a failed login the next one asks again, for a role with a SCRAM secret and for no role alike', async () => {
    const [unknown, known] = [newName('nobody'), newName('known')];
    await withAdmin((admin) => admin.query(`CREATE ROLE ${known} LOGIN PASSWORD 'right'`));
    try {
      for (let round = 0; round < 2; round++) {
        for (const user of [unknown, known]) {
          const refused = await psql(['-c', 'SELECT 1'], { port: proxy.port, user, password: 'wrong', params: BOUND });
          expect(refused.stderr).toMatch(`password authentication failed for user "${user}"`);
        }
      }
      expect((await lookupsOf(unknown, known)).perName).toEqual([2, 2]);
    } finally {
      await withAdmin((admin) => admin.query(`DROP ROLE ${known}`));
    }
  });

  it('logins under many new names at once take at most four connections of the auth role, one query per name', async () => {
    const names = Array.from({ length: 10 }, () => newName('many'));
    const before = proxy.listener.stats.authLookups;
    await Promise.all(names.map((user) => challenge(proxy.port, user)));
    const { perName, backends } = await lookupsOf(...names);
    expect(perName).toEqual(names.map(() => 1));
    expect(backends).toBeLessThanOrEqual(4);
    expect(proxy.listener.stats.authLookups - before).toBe(names.length);
  });

  it('a role created after logins under its name logs in at once, after a failed one and after an unfinished one', async () => {
    for (const attempt of ['failed', 'unfinished'] as const) {
      const user = newName(attempt);
      if (attempt === 'failed') {
        const refused = await psql(['-c', 'SELECT 1'], { port: proxy.port, user, password: 'soon', params: BOUND });
        expect(refused.stderr).toMatch(`password authentication failed for user "${user}"`);
      } else {
        await challenge(proxy.port, user);
      }
      await withAdmin((admin) => admin.query(`CREATE ROLE ${user} LOGIN PASSWORD 'soon'`));
      try {
        const result = await psql(['-c', 'SELECT current_user'], { port: proxy.port, user, password: 'soon', params: BOUND });
        expect(result.stderr).toBe('');
        expect(result.stdout.trim()).toBe(user);
      } finally {
        await withAdmin((admin) => admin.query(`DROP ROLE ${user}`));
      }
    }
  });

  it("logs in again after the server ended the auth role's connection", async () => {
    const login = () => psql(['-c', 'SELECT current_user'], { port: proxy.port, user: scram.user, password: scram.password, params: BOUND });
    expect((await login()).stdout.trim()).toBe(scram.user);
    await withAdmin((admin) => admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1', [authRole.user]));
    await challenge(proxy.port, newName('after'));
    expect((await login()).stdout.trim()).toBe(scram.user);
  });

  it('when the upstream refuses the auth role for want of connections, SCRAM logins get its 53300', async () => {
    const limited = await createAuthRole();
    await withAdmin((admin) => admin.query(`ALTER ROLE ${limited.authRole.user} CONNECTION LIMIT 0`));
    const full = await startProxy({ tls: true, passThrough: true, upstream: { sslMode: 'require' }, authRole: limited.authRole });
    try {
      const client = new pg.Client({ ...connection(full.port, 'scram'), ssl: { ca: ca() } });
      await expect(client.connect()).rejects.toMatchObject({ code: '53300', severity: 'FATAL', message: 'sorry, too many clients already' });
    } finally {
      await full.stop();
      await limited.drop();
    }
  });

  it('when the auth role cannot log in, SCRAM logins fail with 08006 naming the options to check, and no secret', async () => {
    const broken = await startProxy({ tls: true, passThrough: true, upstream: { sslMode: 'require' }, authRole: { ...authRole, password: 'not it' } });
    try {
      const client = new pg.Client({ ...connection(broken.port, 'scram'), ssl: { ca: ca() } });
      const error = (await client.connect().catch((caught: unknown) => caught)) as pg.DatabaseError;
      expect(error).toMatchObject({ code: '08006', severity: 'FATAL', message: "the proxy could not look up the role's SCRAM secret" });
      expect(error.hint).toMatch(/--auth-user, --auth-password/);
      expect(JSON.stringify(error)).not.toContain('not it');
    } finally {
      await broken.stop();
    }
  });

  it('the command takes the auth role from its config file, the password sealed there', async () => {
    const passphrase = 'scram test master key';
    const dir = mkdtempSync(path.join(os.tmpdir(), 'pg-llm-scram-'));
    const file = path.join(dir, 'proxy.json');
    const { certFile, keyFile, port } = cluster();
    writeFileSync(
      file,
      JSON.stringify({
        upstream: `postgres://127.0.0.1:${port}/?sslmode=require`,
        'tls-cert': certFile,
        'tls-key': keyFile,
        'auth-user': authRole.user,
        'auth-password': sealText(authRole.password!, masterKey(passphrase)),
        'auth-database': authRole.database,
        'auth-query': authRole.query,
      }),
    );
    const listen = await freePort();
    const running = launch(['--config', file, '--listen', `127.0.0.1:${listen}`, '--admin', 'off'], { PG_LLM_MASTER_KEY: passphrase });
    try {
      await listening(running);
      const result = await psql(['-c', WHO_AND_TLS], { port: listen, user: scram.user, password: scram.password, params: BOUND });
      expect(result.stderr).toBe('');
      expect(result.stdout.trim()).toBe(`${scram.user} true`);
      expect(running.output()).not.toContain(authRole.password);
    } finally {
      running.child.kill('SIGTERM');
      await running.exited;
    }
  });
});

describe('the lookups of the auth query', () => {
  it('wait in a bounded line, beyond which a login is refused as PostgreSQL refuses one when it is full', async () => {
    const stats = new ProxyStats();
    const line = new AuthLookups(upstreamTarget(), authRole, stats, pino({ level: 'silent' }), 2);
    try {
      const [first, second, third] = ['a', 'b', 'c'].map((name) => line.storedPassword(newName(name)).then(() => 'answered', (error: unknown) => error));
      expect(await third).toMatchObject({ sqlstate: '53300', severity: 'FATAL', message: 'sorry, too many clients already' });
      expect([await first, await second]).toEqual(['answered', 'answered']);
      expect(stats.authLookups).toBe(2);
    } finally {
      line.close();
    }
  });
});

describe('a slow lookup of the auth query', () => {
  const SLOW_QUERY = "SELECT pg_sleep(CASE WHEN $1::text LIKE 'slow%' THEN 60 ELSE 0 END), llm_proxy_auth.role_secret($1)";
  const sleeping = (): Promise<number> =>
    withAdmin(async (admin) => {
      const { rows } = await admin.query("SELECT count(*)::int AS n FROM pg_stat_activity WHERE usename = $1 AND query LIKE '%pg_sleep%' AND state = 'active'", [authRole.user]);
      return rows[0].n as number;
    });

  it('holds up no other login, is not asked again after it times out, and leaves no backend running', async () => {
    const stats = new ProxyStats();
    const line = new AuthLookups(upstreamTarget({ connectTimeoutMs: 2000 }), { ...authRole, query: SLOW_QUERY }, stats, pino({ level: 'silent' }));
    try {
      expect(await line.storedPassword(scram.user)).toMatch(/^SCRAM-SHA-256\$/);
      const settled: string[] = [];
      const slow = line.storedPassword(newName('slow')).then(
        () => settled.push('slow answered'),
        () => settled.push('slow failed'),
      );
      const fast = line.storedPassword(scram.user).then(() => settled.push('fast answered'));
      await Promise.all([slow, fast]);
      expect(settled).toEqual(['fast answered', 'slow failed']);
      expect(stats.authLookups).toBe(3);
      await vi.waitFor(async () => expect(await sleeping()).toBe(0), { timeout: 5000, interval: 100 });
    } finally {
      line.close();
    }
  }, 20_000);

  it('is not run once every client that waited for it has left', async () => {
    const stats = new ProxyStats();
    const line = new AuthLookups(upstreamTarget({ connectTimeoutMs: 2000 }), { ...authRole, query: SLOW_QUERY }, stats, pino({ level: 'silent' }));
    try {
      const busy = Array.from({ length: 4 }, () => line.storedPassword(newName('slow')).catch(() => 'timed out'));
      const left = new AbortController();
      const queued = line.storedPassword(scram.user, left.signal).then(() => 'answered', () => 'dropped');
      left.abort();
      expect(await queued).toBe('dropped');
      expect(await Promise.all(busy)).toEqual(busy.map(() => 'timed out'));
      expect(stats.authLookups).toBe(4);
    } finally {
      line.close();
    }
  }, 20_000);
  it('is not run for a client that left while its lookup waited', async () => {
    const slowProxy = await startProxy({ tls: true, passThrough: true, upstream: { sslMode: 'require', connectTimeoutMs: 2000 }, authRole: { ...authRole, query: SLOW_QUERY } });
    const clients: RawClient[] = [];
    try {
      for (const user of [...Array.from({ length: 4 }, () => newName('slow')), newName('gone')]) {
        const client = await RawClient.open(slowProxy.port);
        client.send(serialize.startup({ user, database: 'postgres' }));
        clients.push(client);
      }
      await vi.waitFor(() => expect(slowProxy.listener.stats.authLookups).toBe(4), { timeout: 5000, interval: 50 });
      clients.pop()!.socket.destroy();
      // a login after the slow lookups failed is looked up after the one left waiting, were that still to run
      await vi.waitFor(async () => expect(await sleeping()).toBe(0), { timeout: 10_000, interval: 100 });
      const login = await psql(['-c', 'SELECT current_user'], { port: slowProxy.port, user: scram.user, password: scram.password, params: BOUND });
      expect(login.stdout.trim()).toBe(scram.user);
      expect(slowProxy.listener.stats.authLookups).toBe(5);
    } finally {
      for (const client of clients) client.socket.destroy();
      await slowProxy.stop();
    }
  }, 30_000);
});

describe('without an auth role', () => {
  it('relays SCRAM as before: SCRAM-SHA-256-PLUS is not offered', async () => {
    const relay = await startProxy({ tls: true, passThrough: true, upstream: { sslMode: 'require' } });
    try {
      const bound = await psql(['-c', 'SELECT 1'], { port: relay.port, user: scram.user, password: scram.password, params: BOUND });
      expect(bound.stderr).toMatch(/channel binding is required, but server did not offer an authentication method that supports channel binding/);
      const plain = await psql(['-c', 'SELECT current_user'], { port: relay.port, user: scram.user, password: scram.password, params: { sslmode: 'require', channel_binding: 'disable' } });
      expect(plain.stdout.trim()).toBe(scram.user);
    } finally {
      await relay.stop();
    }
  });
});
