// Cancel reaches the right backend through the proxy's own keys; a dying upstream, a refused upstream and a
// vanishing client each end one session cleanly while the others carry on.

import net from 'node:net';
import pg from 'pg';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../support/cluster.js';
import { launch, listening } from '../support/command.js';
import { afterThisTest, freshDatabase } from '../support/database.js';
import { cluster, connection, startProxy, type TestProxy } from '../support/proxy.js';
import { psql } from '../support/psql.js';
import { RawClient, sendCancel, serialize } from '../support/raw-client.js';
import { TcpRelay } from '../support/tcp-relay.js';

let proxy: TestProxy;
let direct: pg.Client;
beforeAll(async () => {
  proxy = await startProxy();
  direct = new pg.Client(connection(cluster().port));
  await direct.connect();
});
afterAll(async () => {
  await direct.end();
  await proxy.stop();
});

type KeyedClient = pg.Client & { processID: number; secretKey: number };

/** A fresh database with pg_llm installed through the proxy at `port` and a mock model "m"; a direct client of it. */
async function databaseWithMock(port: number): Promise<{ name: string; direct: pg.Client }> {
  const { name, client: direct } = await freshDatabase();
  const client = new pg.Client(connection(port, 'postgres', name));
  await client.connect();
  await client.query('CREATE EXTENSION pg_llm');
  await client.query(`SELECT pg_llm_add_model(false, 'mock', 'm', NULL, '{"mock_response": "Hello!"}')`);
  await client.end();
  return { name, direct };
}

/**
 * The proxy as its own process, as deployed, until the test ends: a statement's analysis then takes its real time,
 * with nothing running upstream that a cancel there could stop. Resolves with its port.
 */
async function launchedProxy(): Promise<number> {
  const port = await freePort();
  const running = launch(['--listen', `127.0.0.1:${port}`, '--upstream', `postgres://127.0.0.1:${cluster().port}/?sslmode=disable`, '--admin', 'off']);
  afterThisTest(async () => {
    running.child.kill('SIGTERM');
    await running.exited;
  });
  await listening(running);
  return port;
}

/** A client of the proxy at `port`, with the key its CancelRequests take; ended after the test. */
async function keyedClient(port: number, database: string): Promise<KeyedClient> {
  const client = new pg.Client(connection(port, 'postgres', database)) as KeyedClient;
  await client.connect();
  afterThisTest(() => client.end());
  return client;
}

/** A query's rows, or the SQLSTATE it failed with. */
function outcomeOf(query: Promise<pg.QueryResult>): Promise<unknown> {
  return query.then(
    (result) => result.rows,
    (error: { code?: string }) => error.code,
  );
}

/** How many backends of the database `direct` is connected to wait for a lock. */
async function lockWaiters(direct: pg.Client): Promise<number> {
  const { rows } = await direct.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`);
  return rows[0].n;
}

describe('cancel', () => {
  it('postgres.js cancel stops pg_sleep with 57014 and the session goes on', async () => {
    const sql = postgres({ ...connection(proxy.port), max: 1 });
    const sleeping = sql`SELECT pg_sleep(30)`;
    const outcome = sleeping.then(
      () => 'completed',
      (error: { code?: string }) => error.code,
    );
    setTimeout(() => void sleeping.cancel(), 300);
    expect(await outcome).toBe('57014');
    expect(await sql`SELECT 1 AS ok`).toEqual([{ ok: 1 }]);
    await sql.end();
  });

  it('hands out the backend\'s pid with a secret of its own, and a CancelRequest with that key works', async () => {
    const client = new pg.Client(connection(proxy.port)) as KeyedClient;
    await client.connect();
    const { rows } = await client.query('SELECT pg_backend_pid() AS pid');
    expect(client.processID).toBe(rows[0].pid);
    const sleeping = client.query('SELECT pg_sleep(30)').then(
      () => 'completed',
      (error: { code?: string }) => error.code,
    );
    await new Promise((resolve) => setTimeout(resolve, 200));
    await sendCancel(proxy.port, client.processID, client.secretKey);
    expect(await sleeping).toBe('57014');
    await client.end();
  });

  it('a cancel that comes while a statement with LLM calls is still analysed stops its model calls when they start', async () => {
    const port = await launchedProxy();
    const { name } = await freshDatabase();
    const client = new pg.Client(connection(port, 'postgres', name)) as KeyedClient;
    await client.connect();
    afterThisTest(() => client.end());
    await client.query('CREATE EXTENSION pg_llm');
    await client.query(`SELECT pg_llm_add_model(true, 'mock', 'slow', NULL, '{"mock_latency_ms": 20000}')`);
    // A long IN list keeps the statement in the parser for a while.
    const list = Array.from({ length: 20_000 }, () => '1').join(',');
    const started = Date.now();
    const query = client.query(`SELECT pg_llm_chat('slow', 'wait') WHERE 1 IN (${list})`).then(
      () => 'answered',
      (error: { code?: string }) => error.code,
    );
    await new Promise((resolve) => setTimeout(resolve, 20));
    await sendCancel(port, client.processID, client.secretKey);
    expect(await query).toBe('57014');
    expect(Date.now() - started).toBeLessThan(15_000);
    expect((await client.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
  }, 60_000);

  it('a cancel that comes while a statement with calls in its select list is still analysed keeps it from waiting for a lock', async () => {
    const port = await launchedProxy();
    const { name, direct: locker } = await databaseWithMock(port);
    await locker.query(`CREATE TABLE locked (body text); INSERT INTO locked VALUES ('a')`);
    await locker.query('BEGIN');
    await locker.query('LOCK TABLE locked IN ACCESS EXCLUSIVE MODE');
    const client = await keyedClient(port, name);
    afterThisTest(async () => void (await locker.query('ROLLBACK')));
    // A long IN list keeps the statement in the parser for a while; the cancel comes then, or once it waits for the lock.
    const list = Array.from({ length: 20_000 }, () => '1').join(',');
    const outcome = outcomeOf(client.query(`SELECT pg_llm_chat('m', body) FROM locked WHERE 1 IN (${list})`));
    await new Promise((resolve) => setTimeout(resolve, 20));
    await sendCancel(port, client.processID, client.secretKey);
    // The lock is held until the statement has its answer: either way, it comes without the lock.
    expect(await outcome).toBe('57014');
    expect(await lockWaiters(locker)).toBe(0);
    await locker.query('ROLLBACK');
    expect((await client.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
  }, 30_000);

  it('a cancel while the server runs a statement the client sent before cancels that one, not the LLM statement after it', async () => {
    const { name } = await freshDatabase();
    const client = new pg.Client(connection(proxy.port, 'postgres', name)) as KeyedClient;
    await client.connect();
    afterThisTest(() => client.end());
    await client.query('CREATE EXTENSION pg_llm');
    await client.query(`SELECT pg_llm_add_model(true, 'mock', 'm', NULL, '{"mock_response": "still asked"}')`);
    const outcome = (promise: Promise<pg.QueryResult>) => promise.then((result) => result.rows, (error: { code?: string }) => error.code);
    const sleeping = outcome(client.query('SELECT pg_sleep(30)'));
    const asked = outcome(client.query(`SELECT pg_llm_chat('m', 'q') AS answer`));
    await new Promise((resolve) => setTimeout(resolve, 300));
    await sendCancel(proxy.port, client.processID, client.secretKey);
    expect(await sleeping).toBe('57014');
    expect(await asked).toEqual([{ answer: 'still asked' }]);
  });

  it('a cancel of a statement with calls in its select list stops the server waiting for a lock', async () => {
    const { name, direct: locker } = await databaseWithMock(proxy.port);
    await locker.query(`CREATE TABLE locked (body text); INSERT INTO locked VALUES ('a')`);
    await locker.query('BEGIN');
    await locker.query('LOCK TABLE locked IN ACCESS EXCLUSIVE MODE');
    const client = await keyedClient(proxy.port, name);
    afterThisTest(async () => void (await locker.query('ROLLBACK')));
    // The rows of the calls' arguments come from the server, which waits for the lock: the calls wait for them.
    const outcome = outcomeOf(client.query(`SELECT pg_llm_chat('m', body) FROM locked`));
    await expect.poll(() => lockWaiters(locker)).toBe(1);
    await sendCancel(proxy.port, client.processID, client.secretKey);
    // The lock is still held: only a cancel that reached the server ends the wait, and takes the backend off the queue.
    await expect.poll(() => lockWaiters(locker), { timeout: 10_000 }).toBe(0);
    expect(await outcome).toBe('57014');
    await locker.query('ROLLBACK');
    expect((await client.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
  }, 20_000);

  it('a cancel of a FETCH from a cursor over calls stops the server waiting for a lock', async () => {
    const { name, direct: locker } = await databaseWithMock(proxy.port);
    await locker.query(`CREATE TABLE docs (body text); INSERT INTO docs VALUES ('a')`);
    await locker.query('SELECT pg_advisory_lock(4242)');
    const client = await keyedClient(proxy.port, name);
    afterThisTest(async () => void (await locker.query('SELECT pg_advisory_unlock_all()')));
    await client.query('BEGIN');
    // The cursor's query runs at the FETCH, whose rows of arguments wait for the advisory lock.
    await client.query(`DECLARE c CURSOR FOR SELECT pg_llm_chat('m', body) FROM docs WHERE pg_advisory_xact_lock_shared(4242)::text = ''`);
    const outcome = outcomeOf(client.query('FETCH 10 FROM c'));
    await expect.poll(() => lockWaiters(locker)).toBe(1);
    await sendCancel(proxy.port, client.processID, client.secretKey);
    await expect.poll(() => lockWaiters(locker), { timeout: 10_000 }).toBe(0);
    expect(await outcome).toBe('57014');
    await locker.query('SELECT pg_advisory_unlock(4242)');
    await client.query('ROLLBACK');
    expect((await client.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
  }, 20_000);

  it('a cancel that lands after the request of the proxy\'s it was for is done stops nothing sent after it', async () => {
    const relay = await TcpRelay.start(cluster().port);
    const relayed = await startProxy({ upstream: { port: relay.port } });
    afterThisTest(async () => {
      await relayed.stop();
      await relay.stop();
    });
    const { name, direct: locker } = await databaseWithMock(relayed.port);
    await locker.query(`CREATE TABLE locked (body text); INSERT INTO locked VALUES ('a')`);
    await locker.query('SELECT pg_advisory_lock(4242)');
    await locker.query('BEGIN');
    await locker.query('LOCK TABLE locked IN ACCESS EXCLUSIVE MODE');
    const client = await keyedClient(relayed.port, name);
    afterThisTest(async () => void (await locker.query('ROLLBACK; SELECT pg_advisory_unlock_all()')));
    const cancelled = outcomeOf(client.query(`SELECT pg_llm_chat('m', body) FROM locked`));
    // Sent once the statement before it has its answer, it waits for the advisory lock: a late cancel would stop it.
    const next = outcomeOf(client.query(`SELECT pg_advisory_xact_lock_shared(4242)::text AS ran`));
    await expect.poll(() => lockWaiters(locker)).toBe(1);
    const letThrough = relay.hold();
    await sendCancel(relayed.port, client.processID, client.secretKey);
    await expect.poll(() => relay.heldConnections).toBe(1);
    // The lock goes while the cancel is on its way: the request it was for (the statement's rows of arguments, in the
    // query the proxy rewrote it to) ends without it, and the backend waits for the proxy's next message; were that
    // let through, it would soon run the client's next statement, which waits.
    await locker.query('ROLLBACK');
    const awaiting = `SELECT (wait_event = 'ClientRead' AND query LIKE '%jsonb_build_array%') OR wait_event = 'advisory' AS awaiting FROM pg_stat_activity WHERE pid = $1`;
    await expect.poll(async () => (await locker.query(awaiting, [client.processID])).rows[0].awaiting).toBe(true);
    await letThrough();
    expect(await cancelled).toBe('57014');
    await locker.query('SELECT pg_advisory_unlock(4242)');
    expect(await next).toEqual([{ ran: '' }]);
  }, 20_000);

  it('a CancelRequest with the wrong secret or an unknown pid cancels nothing, nor does the key sent around the proxy', async () => {
    const client = new pg.Client(connection(proxy.port)) as KeyedClient;
    await client.connect();
    const sleeping = client.query('SELECT pg_sleep(1) AS slept');
    await new Promise((resolve) => setTimeout(resolve, 100));
    await sendCancel(proxy.port, client.processID, client.secretKey ^ 1);
    await sendCancel(proxy.port, client.processID ^ 1, client.secretKey);
    // The pid is the backend's own, but the secret is the proxy's: the upstream's never leaves the proxy.
    await sendCancel(cluster().port, client.processID, client.secretKey);
    expect((await sleeping).rows).toEqual([{ slept: '' }]);
    await client.end();
  });
});

describe('upstream failures', () => {
  it('an upstream that refuses connections gives FATAL 08006 with a hint, not a hang', async () => {
    const closedPort = await new Promise<number>((resolve) => {
      const server = net.createServer().listen(0, '127.0.0.1', () => {
        const { port } = server.address() as net.AddressInfo;
        server.close(() => resolve(port));
      });
    });
    const refused = await startProxy({ upstream: { port: closedPort } });
    const client = new pg.Client(connection(refused.port));
    await expect(client.connect()).rejects.toMatchObject({ code: '08006', severity: 'FATAL', hint: expect.stringContaining('--upstream') });
    const result = await psql(['-c', 'SELECT 1'], { port: refused.port });
    expect(result.stderr).toMatch(/could not connect to the upstream server/);
    await refused.stop();
  });

  it('an upstream connection cut mid-query ends that session with 08006; other sessions carry on', async () => {
    const relay = await TcpRelay.start(cluster().port);
    const relayed = await startProxy({ upstream: { port: relay.port } });
    const victim = new pg.Client(connection(relayed.port));
    const bystander = new pg.Client(connection(relayed.port));
    await victim.connect();
    await bystander.connect();
    victim.on('error', () => {});
    const failed = victim.query('SELECT pg_sleep(10)').catch((error: unknown) => error);
    await new Promise((resolve) => setTimeout(resolve, 200));
    relay.cut(0);
    expect(await failed).toMatchObject({ code: '08006', message: expect.stringContaining('upstream server closed the connection') });
    expect((await bystander.query('SELECT 2 AS still')).rows).toEqual([{ still: 2 }]);
    await expect.poll(() => relayed.listener.stats.connectionsOpen).toBe(1);
    await bystander.end();
    await relayed.stop();
    await relay.stop();
  });

  it('a backend terminated by the server relays PostgreSQL\'s own 57P01 and closes the session', async () => {
    const victim = new pg.Client({ ...connection(proxy.port), application_name: 'terminate-me' });
    await victim.connect();
    victim.on('error', () => {});
    const failed = victim.query('SELECT pg_sleep(10)').catch((error: unknown) => error);
    await new Promise((resolve) => setTimeout(resolve, 200));
    await direct.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'terminate-me'`);
    expect(await failed).toMatchObject({ code: '57P01' });
  });
});

describe('client failures', () => {
  it('a client that vanishes mid-query has its upstream backend closed', async () => {
    const raw = await RawClient.session(proxy.port, {
      application_name: 'vanishing-client',
      // Lets the backend notice the closed socket during pg_sleep instead of after it.
      options: '-c client_connection_check_interval=100',
    });
    raw.send(serialize.query('SELECT pg_sleep(30)'));
    await expect
      .poll(async () => (await direct.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'vanishing-client' AND state = 'active'`)).rows[0].n)
      .toBe(1);
    raw.socket.destroy();
    await expect
      .poll(async () => (await direct.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'vanishing-client'`)).rows[0].n, { timeout: 5000 })
      .toBe(0);
  });
});

describe('many clients', () => {
  it('serves 200 concurrent clients, each in its own session', async () => {
    const before = proxy.listener.stats.connectionsOpen;
    const clients = Array.from({ length: 200 }, () => new pg.Client(connection(proxy.port)));
    await Promise.all(clients.map((client) => client.connect()));
    expect(proxy.listener.stats.connectionsOpen).toBe(before + 200);
    const results = await Promise.all(
      clients.map(async (client, i) => {
        await client.query('BEGIN');
        await client.query(`SET LOCAL application_name = 'client-${i}'`);
        const { rows } = await client.query(`SELECT current_setting('application_name') AS app, $1::int * 2 AS twice`, [i]);
        await client.query('COMMIT');
        return rows[0];
      }),
    );
    expect(results).toEqual(Array.from({ length: 200 }, (_, i) => ({ app: `client-${i}`, twice: i * 2 })));
    await Promise.all(clients.map((client) => client.end()));
    await expect.poll(() => proxy.listener.stats.connectionsOpen).toBe(before);
  });
});
