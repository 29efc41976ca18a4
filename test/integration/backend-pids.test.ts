// The process id a client gets in BackendKeyData is its upstream backend's: pg_backend_pid(), pg_stat_activity and
// the pid of its own notifications agree with it, and pg_terminate_backend / pg_cancel_backend work in every form
// PostgreSQL accepts. A pg_cancel_backend whose pid the proxy can read (a literal, or a parameter at Bind) also stops
// the model calls of that session, which its idle backend knows nothing of.

import pg from 'pg';
import postgres from 'postgres';
import { describe, expect, it } from 'vitest';
import { afterThisTest } from '../support/database.js';
import { databaseWithModel, proxyAndFakeProvider } from '../support/models.js';
import { connection } from '../support/proxy.js';

const shared = proxyAndFakeProvider();

type KeyedClient = pg.Client & { processID: number };

async function client(database = 'postgres', role: 'postgres' | 'trust' = 'postgres', application_name = 'backend-pids'): Promise<KeyedClient> {
  const connected = new pg.Client({ ...connection(shared.proxy.port, role, database), application_name }) as KeyedClient;
  await connected.connect();
  afterThisTest(() => connected.end().catch(() => {}));
  return connected;
}

function postgresJs(database = 'postgres'): postgres.Sql {
  const sql = postgres({ ...connection(shared.proxy.port, 'postgres', database), max: 1, onnotice: () => {} });
  afterThisTest(() => sql.end());
  return sql;
}

/** A session blocked in a model call the fake provider never answers, and how that call ends. */
async function stalledModelCall(database: string): Promise<{ session: KeyedClient; outcome: Promise<unknown> }> {
  const session = await client(database);
  shared.fake.script({ kind: 'stall' });
  const outcome = session.query(`SELECT pg_llm_chat('llm', 'wait') AS answer`).catch((error: unknown) => error);
  await expect.poll(() => shared.fake.requests.length).toBe(1);
  return { session, outcome };
}

describe('one process id from every point of view', () => {
  it("a session's own NOTIFY carries its BackendKeyData pid, which is pg_backend_pid() and its pg_stat_activity pid", async () => {
    const session = await client('postgres', 'postgres', 'own-notify');
    const heard = new Promise<pg.Notification>((resolve) => session.once('notification', resolve));
    await session.query('LISTEN backend_pids');
    await session.query(`NOTIFY backend_pids, 'mine'`);
    const notification = await heard;
    const { rows } = await session.query('SELECT pg_backend_pid() AS pid');
    expect(rows[0].pid).toBe(session.processID);
    expect(notification.processId).toBe(session.processID);
    const other = await client();
    const listed = await other.query(`SELECT pid FROM pg_stat_activity WHERE application_name = 'own-notify'`);
    expect(listed.rows).toEqual([{ pid: session.processID }]);
  });
});

describe('pg_terminate_backend', () => {
  it('with the pid as a bind parameter ends the listener, which reconnects and hears on (postgres.js)', async () => {
    const sql = postgresJs();
    const listener = postgresJs();
    const heard: string[] = [];
    const subscription = await listener.listen('reconnecting', (payload) => heard.push(payload));
    const firstPid = subscription.state.pid;
    await sql.notify('reconnecting', 'a');
    await expect.poll(() => heard).toEqual(['a']);
    expect(await sql`SELECT pg_terminate_backend(${firstPid}) AS ended`).toEqual([{ ended: true }]);
    // The listener learns of the end from the server's FATAL, reconnects and listens again on a new backend.
    await expect.poll(() => subscription.state.pid !== firstPid, { timeout: 10_000 }).toBe(true);
    await expect
      .poll(async () => (await sql`SELECT count(*)::int AS n FROM pg_stat_activity WHERE pid = ${subscription.state.pid} AND query LIKE 'listen%'`)[0]!.n, { timeout: 10_000 })
      .toBe(1);
    await sql.notify('reconnecting', 'b');
    await expect.poll(() => heard).toEqual(['a', 'b']);
  });

  it('ends a session whose model call is running: one FATAL 57P01, and the call stops', async () => {
    const { name } = await databaseWithModel(shared.proxy, shared.fake, 'openai', { max_retries: 0 });
    const { session, outcome } = await stalledModelCall(name);
    const errors: unknown[] = [];
    session.on('error', (error) => errors.push(error));
    const other = await client(name);
    const { stats } = shared.proxy.listener;
    const open = stats.connectionsOpen;
    expect((await other.query('SELECT pg_terminate_backend($1) AS ended', [session.processID])).rows).toEqual([{ ended: true }]);
    expect(await outcome).toMatchObject({ code: '57P01' });
    await expect.poll(() => shared.fake.requests[0]!.aborted).toBe(true);
    await expect.poll(() => stats.connectionsOpen).toBe(open - 1);
    expect(errors.filter((error) => (error as { code?: string }).code !== undefined)).toEqual([]);
  });
});

describe('pg_cancel_backend', () => {
  it('with the pid as a bind parameter cancels a long upstream query', async () => {
    const session = await client();
    const sleeping = session.query('SELECT pg_sleep(30)').catch((error: unknown) => error);
    const sql = postgresJs();
    await expect
      .poll(async () => (await sql`SELECT state FROM pg_stat_activity WHERE pid = ${session.processID}`)[0]?.state)
      .toBe('active');
    expect(await sql`SELECT pg_cancel_backend(${session.processID}) AS cancelled`).toEqual([{ cancelled: true }]);
    expect(await sleeping).toMatchObject({ code: '57014' });
    expect((await session.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
  });

  it.each([
    ['$1 (postgres.js)', (database: string, pid: number) => postgresJs(database)`SELECT pg_cancel_backend(${pid}) AS cancelled`.then((rows) => [...rows])],
    ['$1::int in text', async (database: string, pid: number) => (await client(database)).query('SELECT pg_cancel_backend($1::int) AS cancelled', [String(pid)]).then((result) => result.rows)],
    // pg sends a Buffer in binary format.
    ['$1::integer in binary', async (database: string, pid: number) => (await client(database)).query('SELECT pg_catalog.pg_cancel_backend($1::integer) AS cancelled', [int4(pid)]).then((result) => result.rows)],
  ])('with the pid as %s stops a running model call', async (_form, cancel) => {
    const { name } = await databaseWithModel(shared.proxy, shared.fake, 'openai', { max_retries: 0 });
    const { session, outcome } = await stalledModelCall(name);
    expect(await cancel(name, session.processID)).toEqual([{ cancelled: true }]);
    expect(await outcome).toMatchObject({ code: '57014' });
    await expect.poll(() => shared.fake.requests[0]!.aborted).toBe(true);
    expect((await session.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
  });

  it("by a role PostgreSQL refuses leaves the session's model call running", async () => {
    const { name } = await databaseWithModel(shared.proxy, shared.fake, 'openai', { max_retries: 0 });
    const { session, outcome } = await stalledModelCall(name);
    const stranger = await client(name, 'trust');
    await expect(stranger.query('SELECT pg_cancel_backend($1) AS cancelled', [session.processID])).rejects.toMatchObject({ code: '42501' });
    expect(shared.fake.requests[0]!.aborted).toBe(false);
    const owner = await client(name);
    expect((await owner.query('SELECT pg_cancel_backend($1) AS cancelled', [session.processID])).rows).toEqual([{ cancelled: true }]);
    expect(await outcome).toMatchObject({ code: '57014' });
  });
});

/** A process id as PostgreSQL's binary int4. */
function int4(value: number): Buffer {
  const bytes = Buffer.alloc(4);
  bytes.writeInt32BE(value);
  return bytes;
}
