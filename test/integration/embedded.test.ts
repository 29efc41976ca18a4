// The embedded PostgreSQL as the proxy's upstream: a real server, so clients at once each keep their own session;
// reachable only on its Unix socket in a private directory, never by TCP; every login asking for the password of
// `postgres`, kept in a file only this process's user reads; its data kept in a data directory, or thrown away with
// that private directory at stop.

import { execFile } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installedBinaries, reachableBinaries } from '../../src/embedded/binaries.js';
import { serverUser } from '../../src/embedded/server-user.js';
import { startEmbeddedUpstream, type EmbeddedUpstream } from '../../src/embedded/server.js';
import { startProxy, type TestProxy } from '../support/proxy.js';

const SLOW = 60_000;

describe('the embedded PostgreSQL', () => {
  let upstream: EmbeddedUpstream;
  let proxy: TestProxy;
  let socketDir: string;
  const clients: pg.Client[] = [];
  const client = async (host = '127.0.0.1', password = passwordOf(upstream)): Promise<pg.Client> => {
    const opened = new pg.Client({ host, port: proxy.port, user: 'postgres', password, database: 'postgres' });
    await opened.connect();
    clients.push(opened);
    return opened;
  };

  beforeAll(async () => {
    upstream = await startEmbeddedUpstream();
    socketDir = mkdtempSync(path.join(os.tmpdir(), 'pg-llm-embedded-proxy-'));
    proxy = await startProxy({ upstream: upstream.target, socketDir });
  }, SLOW);
  afterAll(async () => {
    await Promise.all(clients.map((opened) => opened.end()));
    await proxy?.stop();
    await upstream?.stop();
    rmSync(socketDir, { recursive: true, force: true });
  });

  it('asks every client of the proxy, on TCP and on its Unix socket, for the password of postgres', async () => {
    for (const host of ['127.0.0.1', socketDir]) {
      await expect(client(host, 'not the password')).rejects.toMatchObject({ code: '28P01' });
      await expect(client(host, '')).rejects.toThrow(/password/);
      expect(await value(await client(host), 'SELECT current_user')).toBe('postgres');
    }
  });

  it('keeps the password in a file that only this process’s user can read', () => {
    const file = statSync(upstream.passwordFile);
    expect(file.mode & 0o777).toBe(0o600);
    expect(file.uid).toBe(process.getuid!());
    expect(passwordOf(upstream)).toMatch(/^[\w-]{24}$/);
  });

  it('serves clients at once, each with its own session settings', async () => {
    const [a, b] = [await client(), await client()];
    await a.query(`SET application_name = 'client a'`);
    await b.query(`SET TIME ZONE 'Asia/Tokyo'`);
    expect(await value(a, 'SHOW application_name')).toBe('client a');
    expect(await value(b, 'SHOW application_name')).not.toBe('client a');
    expect(await value(a, 'SHOW TimeZone')).not.toBe('Asia/Tokyo');
    expect(await value(a, 'SELECT pg_backend_pid()')).not.toBe(await value(b, 'SELECT pg_backend_pid()'));
  });

  it('runs one client’s transaction without blocking or showing it to another', async () => {
    const [a, b] = [await client(), await client()];
    await a.query('CREATE TABLE visits (n int)');
    await a.query('BEGIN');
    await a.query('INSERT INTO visits VALUES (1)');
    expect(await value(b, 'SELECT count(*)::int FROM visits')).toBe(0);
    await b.query('INSERT INTO visits VALUES (2)');
    expect(await value(a, 'SELECT array_agg(n ORDER BY n) FROM visits')).toEqual([1, 2]);
    await a.query('ROLLBACK');
    expect(await value(b, 'SELECT array_agg(n) FROM visits')).toEqual([2]);
  });

  it('listens on no TCP address, only on a socket in a directory private to the server’s user', async () => {
    const a = await client();
    expect(await value(a, 'SHOW listen_addresses')).toBe('');
    const dir = statSync(upstream.target.socketDir!);
    expect(dir.mode & 0o777).toBe(0o700);
    expect(dir.uid).toBe(serverUser()?.uid ?? process.getuid!());
    if (process.platform !== 'linux') return;
    const dataDir = (await value(a, `SELECT current_setting('data_directory')`)) as string;
    const postmaster = readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]!;
    expect(tcpListeners(postmaster)).toEqual([]);
  });

  it('has no pgvector, and says so with PostgreSQL’s own error', async () => {
    const a = await client();
    await expect(a.query('CREATE EXTENSION vector')).rejects.toMatchObject({ code: '0A000', message: 'extension "vector" is not available' });
  });
});

describe('the embedded PostgreSQL’s data', () => {
  let parent: string;
  beforeAll(() => {
    parent = mkdtempSync(path.join(os.tmpdir(), 'pg-llm-embedded-test-'));
    chmodSync(parent, 0o755); // reachable by the server's user when the tests run as root
  });
  afterAll(() => rmSync(parent, { recursive: true, force: true }));

  it('stays in a data directory across restarts, with its password, while the private directory goes at each stop', async () => {
    const dataDir = path.join(parent, 'kept');
    const first = await startEmbeddedUpstream({ dataDir });
    expect(first.passwordFile).toBe(`${dataDir}.password`);
    const password = passwordOf(first);
    await onUpstream(first, (db) => db.query(`CREATE TABLE kept AS SELECT 'still here' AS note`));
    await first.stop();
    expect(existsSync(first.target.socketDir!)).toBe(false);
    const second = await startEmbeddedUpstream({ dataDir });
    expect(passwordOf(second)).toBe(password);
    expect(await onUpstream(second, async (db) => (await db.query('SELECT note FROM kept')).rows)).toEqual([{ note: 'still here' }]);
    await second.stop();
  }, SLOW);

  it('takes the password the operator chooses, on a new data directory and on one that has another', async () => {
    const dataDir = path.join(parent, 'chosen');
    const first = await startEmbeddedUpstream({ dataDir, password: 'first choice' });
    expect(passwordOf(first)).toBe('first choice');
    await onUpstream(first, (db) => db.query('SELECT 1'));
    await first.stop();
    const second = await startEmbeddedUpstream({ dataDir, password: "the operator's second" });
    expect(passwordOf(second)).toBe("the operator's second");
    await onUpstream(second, (db) => db.query('SELECT 1'));
    await expect(onUpstream(second, (db) => db.query('SELECT 1'), 'first choice')).rejects.toMatchObject({ code: '28P01' });
    await second.stop();
  }, SLOW);

  it('makes a data directory that trusted every login (as created before passwords) ask for one', async () => {
    const dataDir = path.join(parent, 'trusted');
    await createTrustedCluster(dataDir);
    const upstream = await startEmbeddedUpstream({ dataDir });
    try {
      expect(readFileSync(path.join(dataDir, 'pg_hba.conf'), 'utf8')).toMatch(/^local\s+all\s+all\s+scram-sha-256$/m);
      await expect(onUpstream(upstream, (db) => db.query('SELECT 1'), 'not the password')).rejects.toMatchObject({ code: '28P01' });
      expect(await onUpstream(upstream, async (db) => (await db.query('SELECT current_user AS name')).rows)).toEqual([{ name: 'postgres' }]);
    } finally {
      await upstream.stop();
    }
  }, SLOW);

  it('refuses a password file it did not write: planted beside a new data directory, open to others, or not a file', async () => {
    const dataDir = path.join(parent, 'planted');
    const file = `${dataDir}.password`;
    writeFileSync(file, 'the attacker knows\n', { mode: 0o600 });
    await expect(startEmbeddedUpstream({ dataDir })).rejects.toThrow(/holds no cluster yet/);
    expect(existsSync(dataDir)).toBe(false);
    const chosen = await startEmbeddedUpstream({ dataDir, password: 'the operator chose' });
    expect(passwordOf(chosen)).toBe('the operator chose');
    await chosen.stop();
    chmodSync(file, 0o644);
    await expect(startEmbeddedUpstream({ dataDir })).rejects.toThrow(/must belong to the proxy's user and allow no access to group or others/);
    rmSync(file);
    await promisify(execFile)('mkfifo', ['-m', '600', file]);
    await expect(startEmbeddedUpstream({ dataDir })).rejects.toThrow(/is not a regular file/);
    rmSync(file);
    writeFileSync(`${file}.elsewhere`, 'the operator chose\n', { mode: 0o600 });
    symlinkSync(`${file}.elsewhere`, file);
    await expect(startEmbeddedUpstream({ dataDir })).rejects.toThrow(/is not a regular file/);
  }, SLOW);

  it('writes the password through no file or link planted where it drafts it', async () => {
    const dataDir = path.join(parent, 'drafted');
    const stolen = path.join(parent, 'stolen');
    writeFileSync(stolen, '', { mode: 0o600 });
    symlinkSync(stolen, `${dataDir}.password.${process.pid}`);
    const upstream = await startEmbeddedUpstream({ dataDir });
    await upstream.stop();
    expect(readFileSync(stolen, 'utf8')).toBe('');
    expect(passwordOf(upstream)).toMatch(/^[\w-]{24}$/);
  }, SLOW);

  it('goes with the private directory at stop when no data directory is named', async () => {
    const upstream = await startEmbeddedUpstream();
    const dataDir = await onUpstream(upstream, async (db) => (await db.query(`SELECT current_setting('data_directory') AS dir`)).rows[0].dir as string);
    expect(dataDir.startsWith(upstream.target.socketDir!)).toBe(true);
    await upstream.stop();
    expect(existsSync(upstream.target.socketDir!)).toBe(false);
  }, SLOW);
});

async function value(on: pg.Client, sql: string): Promise<unknown> {
  return Object.values((await on.query(sql)).rows[0] as object)[0];
}

function passwordOf(upstream: EmbeddedUpstream): string {
  return readFileSync(upstream.passwordFile, 'utf8').trim();
}

/** Runs `work` on a direct connection to the embedded server, through its socket. */
async function onUpstream<T>(upstream: EmbeddedUpstream, work: (db: pg.Client) => Promise<T>, password = passwordOf(upstream)): Promise<T> {
  const db = new pg.Client({ host: upstream.target.socketDir, port: upstream.target.port, user: 'postgres', password, database: 'postgres' });
  await db.connect();
  try {
    return await work(db);
  } finally {
    await db.end();
  }
}

/** A cluster as the embedded server created before it asked for passwords: `postgres` trusted on the socket. */
async function createTrustedCluster(dataDir: string): Promise<void> {
  const user = serverUser();
  mkdirSync(dataDir);
  if (user) chownSync(dataDir, user.uid, user.gid);
  const { initdb } = reachableBinaries(await installedBinaries(), user, path.dirname(dataDir));
  const args = ['-D', dataDir, '-U', 'postgres', '--auth-local=trust', '--auth-host=reject', '-E', 'UTF8', '--locale=C', '--no-sync'];
  await promisify(execFile)(initdb, args, { uid: user?.uid, gid: user?.gid, cwd: path.dirname(dataDir) });
}

/** The local addresses of the TCP sockets in LISTEN state that the process holds (Linux /proc). */
function tcpListeners(pid: string): string[] {
  const held = new Set(readdirSync(`/proc/${pid}/fd`).map((fd) => readlinkSync(`/proc/${pid}/fd/${fd}`)));
  return ['tcp', 'tcp6'].flatMap((table) =>
    readFileSync(`/proc/net/${table}`, 'utf8')
      .split('\n')
      .slice(1)
      .map((line) => line.trim().split(/\s+/))
      .filter((fields) => fields[3] === '0A' && held.has(`socket:[${fields[9]}]`))
      .map((fields) => fields[1]!),
  );
}
