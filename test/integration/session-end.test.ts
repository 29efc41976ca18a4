// Sessions end cleanly however a client leaves: after Terminate (with or without stray bytes behind it), in the
// middle of a large result, during startup, or at once; the proxy's counters stay true and shutdown always ends.

import { execFileSync, spawn } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import pg from 'pg';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLOSE_GRACE_MS } from '../../proxy/close-socket.js';
import { createAuthRole } from '../support/auth-role.js';
import { freePort, ROLES } from '../support/cluster.js';
import { exitWithin, launch, listening } from '../support/command.js';
import { freshDatabase } from '../support/database.js';
import { cluster, connection, startProxy, type TestProxy } from '../support/proxy.js';
import { RawClient, serialize } from '../support/raw-client.js';
import { StalledTlsUpstream } from '../support/stalled-tls-upstream.js';

const SYSTEM_PYTHON = '/usr/bin/python3';
const LOCKED_TABLE = 'session_end_locked';
/** What a client might still send after its Terminate, as one well-formed message the proxy could try to relay. */
const STRAY = serialize.query('SELECT 1');

let proxy: TestProxy;
let direct: pg.Client;
beforeAll(async () => {
  proxy = await startProxy({ passThrough: true });
  direct = new pg.Client(connection(cluster().port));
  await direct.connect();
});
afterAll(async () => {
  await direct.end();
  await proxy.stop();
});

/** A raw socket's whole life: everything it received, and that the server closed it. */
function rawSocket(port: number): Promise<{ socket: net.Socket; received: () => Buffer; closed: Promise<void> }> {
  const socket = net.connect({ host: '127.0.0.1', port });
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  socket.on('error', () => {});
  const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
  return new Promise((resolve, reject) =>
    socket.once('connect', () => resolve({ socket, received: () => Buffer.concat(chunks), closed })).once('error', reject),
  );
}

/**
 * A client that sends Terminate, then (once its session has ended upstream) more messages one by one, then closes
 * its side: the proxy must still read to its end, or close it.
 */
async function terminateWithStrayBytes(port: number): Promise<RawClient> {
  const pause = () => new Promise((resolve) => setTimeout(resolve, 200));
  const raw = await RawClient.session(port);
  raw.socket.write(serialize.end());
  await pause();
  raw.socket.write(STRAY);
  await pause();
  raw.socket.write(STRAY);
  await pause();
  raw.socket.end();
  return raw;
}

function hasAsyncpg(): boolean {
  try {
    execFileSync(SYSTEM_PYTHON, ['-c', 'import asyncpg'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function runPython(script: string, args: string[]): Promise<{ status: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(SYSTEM_PYTHON, ['-c', script, ...args]);
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, output }));
  });
}

describe('after Terminate', () => {
  it('the proxy closes the client socket, as PostgreSQL does', async () => {
    const raw = await RawClient.session(proxy.port);
    raw.send(serialize.end());
    await raw.untilClosed(10_000);
  });

  it.runIf(hasAsyncpg())("asyncpg's close() returns", async () => {
    // asyncpg sends Terminate and waits for the server to close the connection.
    const script = `
import asyncio, sys, asyncpg
async def main():
    conn = await asyncpg.connect(host='127.0.0.1', port=int(sys.argv[1]), user='postgres', database='postgres')
    assert await conn.fetchval('SELECT 41 + 1') == 42
    await asyncio.wait_for(conn.close(), 10)
    print('closed')
asyncio.run(main())
`;
    const result = await runPython(script, [String(proxy.port)]);
    expect(result.output).toMatch(/^closed$/m);
    expect(result.status).toBe(0);
  });

  it('stray bytes behind it leave no socket open', async () => {
    const raw = await terminateWithStrayBytes(proxy.port);
    await raw.untilClosed(10_000);
  });

  it("during the proxy's own SCRAM login, the connection closes at once, as PostgreSQL closes it", async () => {
    const { authRole, drop } = await createAuthRole();
    const own = await startProxy({ passThrough: true, authRole });
    try {
      const raw = await RawClient.open(own.port);
      raw.send(serialize.startup({ user: ROLES.scram.user, database: 'postgres' }));
      await raw.until('authenticationSASL');
      raw.send(serialize.end());
      // Not at the upstream's authentication_timeout, a minute later.
      await raw.untilClosed(10_000);
    } finally {
      await own.stop();
      await drop();
    }
  });

  it('bytes behind it in the same packet are not read, however malformed: no error, as from PostgreSQL', async () => {
    const invalidLength = Buffer.from([0x51, 0, 0, 0, 2]);
    for (const port of [cluster().port, proxy.port]) {
      const raw = await RawClient.session(port);
      raw.send(serialize.end(), invalidLength);
      await raw.untilClosed(10_000);
      expect(raw.received).toEqual([]);
    }
  });
});

describe('a client that leaves in the middle of a large result', () => {
  beforeAll(async () => {
    await direct.query(`DROP TABLE IF EXISTS ${LOCKED_TABLE}; CREATE TABLE ${LOCKED_TABLE} (id int PRIMARY KEY); INSERT INTO ${LOCKED_TABLE} VALUES (1)`);
  });
  afterAll(() => direct.query(`DROP TABLE ${LOCKED_TABLE}`));

  it('takes its backend with it, and the backend its locks', async () => {
    const application = 'session-end-leaver';
    const raw = await RawClient.session(proxy.port, { application_name: application });
    await raw.query(`BEGIN; SELECT * FROM ${LOCKED_TABLE} WHERE id = 1 FOR UPDATE`);
    raw.send(serialize.query("SELECT repeat('x', 400) FROM generate_series(1, 5000000)"));
    await raw.until('dataRow', 10_000);
    raw.socket.pause();
    // The backend blocks writing once the client stops reading and the proxy stops reading the backend.
    const waitEvent = async () =>
      (await direct.query('SELECT wait_event FROM pg_stat_activity WHERE application_name = $1', [application])).rows[0]?.wait_event;
    await expect.poll(waitEvent, { timeout: 20_000 }).toBe('ClientWrite');
    raw.socket.destroy();
    const backends = async () => (await direct.query('SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1', [application])).rows[0].n;
    await expect.poll(backends, { timeout: 10_000 }).toBe(0);
    const other = new pg.Client(connection(cluster().port));
    await other.connect();
    try {
      await other.query('BEGIN');
      await other.query(`SELECT * FROM ${LOCKED_TABLE} WHERE id = 1 FOR UPDATE NOWAIT`);
      await other.query('ROLLBACK');
    } finally {
      await other.end();
    }
  });
});

describe('a client that leaves while its backend computes', () => {
  it('takes its backend with it at once, and the backend its locks', async () => {
    const table = 'session_end_sleeper_locked';
    const application = 'session-end-sleeper';
    await direct.query(`DROP TABLE IF EXISTS ${table}; CREATE TABLE ${table} (id int)`);
    try {
      const raw = await RawClient.session(proxy.port, { application_name: application });
      raw.send(serialize.query(`BEGIN; LOCK TABLE ${table}; SELECT pg_sleep(60)`));
      const backends = async () =>
        (await direct.query('SELECT wait_event FROM pg_stat_activity WHERE application_name = $1', [application])).rows as Array<{ wait_event: string }>;
      await expect.poll(async () => (await backends())[0]?.wait_event, { timeout: 10_000 }).toBe('PgSleep');
      raw.socket.destroy();
      // Before: the backend slept on for its minute, holding the lock, as it noticed its connection gone only then.
      await expect.poll(async () => (await backends()).length, { timeout: 10_000 }).toBe(0);
      await direct.query(`BEGIN; LOCK TABLE ${table} NOWAIT; ROLLBACK`);
    } finally {
      await direct.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1', [application]);
      await direct.query(`DROP TABLE ${table}`);
    }
  });
});

describe('a session closed during startup', () => {
  it('is counted closed once: the open-connections gauge never goes below zero', async () => {
    const own = await startProxy({ passThrough: true });
    let lowest = 0;
    const sampler = setInterval(() => (lowest = Math.min(lowest, own.listener.stats.connectionsOpen)), 1);
    try {
      for (let round = 0; round < 20; round++) {
        const { socket, closed } = await rawSocket(own.port);
        socket.end(serialize.startup({ user: 'postgres', database: 'postgres' }));
        await closed;
      }
      await expect.poll(() => own.listener.stats.connectionsTotal, { timeout: 10_000 }).toBe(20);
      await expect.poll(() => own.listener.stats.connectionsOpen, { timeout: 10_000 }).toBe(0);
      // A late ReadyForQuery must not bring a closed session back, to be closed (and counted) a second time.
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(own.listener.stats.connectionsOpen).toBe(0);
      expect(lowest).toBe(0);
    } finally {
      clearInterval(sampler);
      await own.stop();
    }
  });
});

describe('a client that says little or nothing before it closes', () => {
  let quiet: TestProxy;
  const logged: Array<{ level: number; msg: string }> = [];
  beforeAll(async () => {
    const log = pino({ level: 'debug' }, { write: (line: string) => void logged.push(JSON.parse(line)) });
    quiet = await startProxy({ passThrough: true, log });
  });
  afterAll(() => quiet.stop());

  it.each([
    ['nothing', Buffer.alloc(0)],
    ['half a length word', Buffer.from([0, 0])],
    ['half a startup packet', serialize.startup({ user: 'postgres' }).subarray(0, 12)],
    ['Terminate before its startup packet, as node-postgres does', Buffer.concat([serialize.end(), serialize.startup({ user: 'postgres' })])],
  ])('%s: gets no error, as from PostgreSQL, and leaves nothing above debug in the log', async (_name, bytes) => {
    logged.length = 0;
    for (const port of [cluster().port, quiet.port]) {
      const { socket, received, closed } = await rawSocket(port);
      socket.end(bytes);
      await closed;
      expect(received()).toEqual(Buffer.alloc(0));
    }
    expect(logged.filter((entry) => entry.level > 20)).toEqual([]);
  });

  it("node-postgres's connect() then end() ends without an error", async () => {
    const errors: string[] = [];
    const client = new pg.Client(connection(quiet.port));
    client.on('error', (error) => errors.push(error.message));
    client.connect().catch((error: Error) => errors.push(error.message));
    await client.end();
    await new Promise((resolve) => setImmediate(resolve));
    expect(errors).toEqual([]);
  });
});

describe('shutdown', () => {
  it('SIGTERM ends the process, admin connections (idle, or a request half sent) and a client gone after Terminate included', async () => {
    const [port, adminPort] = [await freePort(), await freePort()];
    const upstream = `postgres://127.0.0.1:${cluster().port}/?sslmode=disable`;
    const running = launch(['--listen', `127.0.0.1:${port}`, '--upstream', upstream, '--admin', `127.0.0.1:${adminPort}`, '--shutdown-timeout', '2000']);
    await listening(running);
    await expect.poll(() => running.output(), { timeout: 20_000 }).toMatch(/admin server listening/);
    const agent = new http.Agent({ keepAlive: true });
    const halfRequest = net.connect({ host: '127.0.0.1', port: adminPort });
    halfRequest.on('error', () => {});
    try {
      const metrics = await new Promise<string>((resolve, reject) =>
        http
          .get({ host: '127.0.0.1', port: adminPort, path: '/metrics', agent }, (response) => {
            let body = '';
            response.on('data', (chunk: Buffer) => (body += chunk.toString()));
            response.on('end', () => resolve(body));
          })
          .on('error', reject),
      );
      expect(metrics).toMatch(/pg_llm_proxy_connections_open 0/);
      halfRequest.write('GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n');
      await terminateWithStrayBytes(port);
      running.child.kill('SIGTERM');
      // Without the fixes the process never exits.
      expect(await exitWithin(running, 20_000)).toBe(0);
      expect(running.output()).toMatch(/"msg":"stopped"/);
    } finally {
      agent.destroy();
      halfRequest.destroy();
      running.child.kill('SIGKILL');
    }
  });

  it('ends a session still waiting for an upstream TLS handshake, and the process exits', async () => {
    const stalled = await StalledTlsUpstream.start();
    const port = await freePort();
    const upstream = `postgres://127.0.0.1:${stalled.port}/?sslmode=require`;
    const running = launch(['--listen', `127.0.0.1:${port}`, '--upstream', upstream, '--admin', 'off', '--connect-timeout', '600000', '--shutdown-timeout', '300']);
    try {
      await listening(running);
      const raw = await RawClient.open(port);
      raw.send(serialize.startup({ user: 'postgres', database: 'postgres' }));
      await expect.poll(() => stalled.stalled, { timeout: 10_000 }).toBe(1);
      running.child.kill('SIGTERM');
      // Without the fix the connection being made keeps the process alive until the connect timeout.
      expect(await exitWithin(running, 20_000)).toBe(0);
      const [error] = (await raw.until('error')).slice(-1);
      expect(error).toMatchObject({ code: '57P01' });
    } finally {
      running.child.kill('SIGKILL');
      await stalled.stop();
    }
  });

  it('at its timeout, a query still running is cancelled: its backend ends and releases its locks', async () => {
    const table = 'session_end_shutdown_locked';
    const application = 'session-end-shutdown-sleeper';
    await direct.query(`DROP TABLE IF EXISTS ${table}; CREATE TABLE ${table} (id int)`);
    const port = await freePort();
    const upstream = `postgres://127.0.0.1:${cluster().port}/?sslmode=disable`;
    const running = launch(['--listen', `127.0.0.1:${port}`, '--upstream', upstream, '--admin', 'off', '--shutdown-timeout', '300']);
    try {
      await listening(running);
      const raw = await RawClient.session(port, { application_name: application });
      raw.send(serialize.query(`BEGIN; LOCK TABLE ${table}; SELECT pg_sleep(60)`));
      const backends = async () =>
        (await direct.query('SELECT wait_event FROM pg_stat_activity WHERE application_name = $1', [application])).rows as Array<{ wait_event: string }>;
      await expect.poll(async () => (await backends())[0]?.wait_event, { timeout: 10_000 }).toBe('PgSleep');
      running.child.kill('SIGTERM');
      expect(await exitWithin(running, 20_000)).toBe(0);
      // Without the cancel the backend sleeps on for a minute, holding its lock.
      await expect.poll(async () => (await backends()).length, { timeout: 10_000 }).toBe(0);
      await direct.query(`BEGIN; LOCK TABLE ${table} NOWAIT; ROLLBACK`);
    } finally {
      running.child.kill('SIGKILL');
      await direct.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1', [application]);
      await direct.query(`DROP TABLE ${table}`);
    }
  });

  it('a client that does not take its last message holds shutdown no longer than its timeout', async () => {
    const { name } = await freshDatabase();
    const own = await startProxy();
    const owner = new pg.Client(connection(own.port, 'postgres', name));
    await owner.connect();
    await owner.query('CREATE EXTENSION pg_llm');
    // The mock echoes its prompt: more than the kernel holds for a client that reads nothing.
    await owner.query(`SELECT pg_llm_add_model(false, 'mock', 'big', NULL, '{}')`);
    await owner.end();
    const raw = await RawClient.session(own.port, { database: name });
    raw.send(serialize.query("SELECT pg_llm_chat('big', repeat('x', 8 * 1024 * 1024))"));
    raw.socket.pause();
    await expect.poll(() => own.listener.stats.bytesToClients, { timeout: 20_000 }).toBeGreaterThan(8 * 1024 * 1024);
    const started = Date.now();
    await own.listener.shutdown(300);
    // The promise measured: within its timeout, not the two seconds more a client once had to take its last message.
    expect(Date.now() - started).toBeLessThan(CLOSE_GRACE_MS);
    raw.socket.destroy();
  });
});

describe('a client that leaves in the middle of its TLS handshake', () => {
  it('is counted rejected, leaves nothing behind, and holds up no shutdown', async () => {
    // A startup timeout longer than the test: only the client's leaving may end these connections.
    const own = await startProxy({ passThrough: true, tls: true, startupTimeoutMs: 600_000 });
    const sslRequest = Buffer.from([0, 0, 0, 8, 4, 0xd2, 0x16, 0x2f]);
    const clients = 20;
    try {
      for (let round = 0; round < clients; round++) {
        const { socket, received, closed } = await rawSocket(own.port);
        socket.write(sslRequest);
        await expect.poll(received).toEqual(Buffer.from('S'));
        // Half of them leave before their ClientHello, half after a piece of it.
        if (round % 2 === 1) socket.write(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01]));
        socket.destroy();
        await closed;
      }
      // Without the fix these never end: not counted, and each still held in memory and by its startup timer.
      await expect.poll(() => own.listener.stats.connectionsRejected, { timeout: 10_000 }).toBe(clients);
      // One still in its handshake at shutdown is closed at once.
      const { socket, closed } = await rawSocket(own.port);
      socket.write(sslRequest);
      await new Promise((resolve) => socket.once('data', resolve));
      const started = Date.now();
      await own.listener.shutdown(300);
      await closed;
      expect(Date.now() - started).toBeLessThan(CLOSE_GRACE_MS);
    } finally {
      await own.stop();
    }
  });
});
