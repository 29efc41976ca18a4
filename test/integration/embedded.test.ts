// The embedded PostgreSQL as the proxy's upstream: a real server, so clients at once each keep their own session;
// reachable only on its Unix socket in a private directory, never by TCP; its data kept in a data directory, or
// thrown away with that private directory at stop.

import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serverUser } from '../../src/embedded/server-user.js';
import { startEmbeddedUpstream, type EmbeddedUpstream } from '../../src/embedded/server.js';
import { connection, startProxy, type TestProxy } from '../support/proxy.js';

const SLOW = 60_000;

describe('the embedded PostgreSQL', () => {
  let upstream: EmbeddedUpstream;
  let proxy: TestProxy;
  const clients: pg.Client[] = [];
  const client = async (): Promise<pg.Client> => {
    const opened = new pg.Client(connection(proxy.port));
    await opened.connect();
    clients.push(opened);
    return opened;
  };
  const value = async (on: pg.Client, sql: string): Promise<unknown> => Object.values((await on.query(sql)).rows[0] as object)[0];

  beforeAll(async () => {
    upstream = await startEmbeddedUpstream();
    proxy = await startProxy({ upstream: upstream.target });
  }, SLOW);
  afterAll(async () => {
    await Promise.all(clients.map((opened) => opened.end()));
    await proxy?.stop();
    await upstream?.stop();
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
  it('stays in a data directory across restarts, while the private directory goes at each stop', async () => {
    const parent = mkdtempSync(path.join(os.tmpdir(), 'pg-llm-embedded-test-'));
    chmodSync(parent, 0o755); // reachable by the server's user when the tests run as root
    const dataDir = path.join(parent, 'data');
    try {
      const first = await startEmbeddedUpstream({ dataDir });
      await onUpstream(first, (db) => db.query(`CREATE TABLE kept AS SELECT 'still here' AS note`));
      await first.stop();
      expect(existsSync(first.target.socketDir!)).toBe(false);
      const second = await startEmbeddedUpstream({ dataDir });
      expect(await onUpstream(second, async (db) => (await db.query('SELECT note FROM kept')).rows)).toEqual([{ note: 'still here' }]);
      await second.stop();
    } finally {
      rmSync(parent, { recursive: true, force: true });
    }
  }, SLOW);

  it('goes with the private directory at stop when no data directory is named', async () => {
    const upstream = await startEmbeddedUpstream();
    const dataDir = await onUpstream(upstream, async (db) => (await db.query(`SELECT current_setting('data_directory') AS dir`)).rows[0].dir as string);
    expect(dataDir.startsWith(upstream.target.socketDir!)).toBe(true);
    await upstream.stop();
    expect(existsSync(upstream.target.socketDir!)).toBe(false);
  }, SLOW);
});

/** Runs `work` on a direct connection to the embedded server, through its socket. */
async function onUpstream<T>(upstream: EmbeddedUpstream, work: (db: pg.Client) => Promise<T>): Promise<T> {
  const db = new pg.Client({ host: upstream.target.socketDir, port: upstream.target.port, user: 'postgres', database: 'postgres' });
  await db.connect();
  try {
    return await work(db);
  } finally {
    await db.end();
  }
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
