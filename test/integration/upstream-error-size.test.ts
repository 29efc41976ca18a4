// Any role can make the server send an ErrorResponse as big as it likes (RAISE of a long text: up to 1 GB). The
// session reads the severity of every error it relays, to know whether the server is ending the session; it used to
// hold the whole message for that and decode each of its fields, so a 300 MB error held up every other session for
// seconds and took twice its size of the proxy's memory, per session raising one.

import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { discardingSession } from '../support/discarding-session.js';
import { heldLive, peakGrowth } from '../support/held-memory.js';
import { connection, startProxy, type TestProxy } from '../support/proxy.js';
import { serialize } from '../support/raw-client.js';

let proxy: TestProxy;
beforeAll(async () => {
  proxy = await startProxy();
});
afterAll(() => proxy.stop());

const MESSAGE_BYTES = 64 * 1024 * 1024;

it('relays a 64 MB error without holding it, and the session goes on', async () => {
  const { socket, untilReady } = await discardingSession(proxy.port);
  heldLive();
  let relayed = 0;
  const growth = await peakGrowth(async () => {
    const answered = untilReady();
    socket.write(serialize.query(`DO $$ BEGIN RAISE EXCEPTION '%', repeat('x', ${MESSAGE_BYTES}); END $$`));
    relayed = await answered;
  }, 100);
  expect(relayed).toBeGreaterThan(MESSAGE_BYTES);
  // Before: the whole message, then its text decoded at once (half a second of the event loop every session shares).
  expect(growth).toBeLessThan(MESSAGE_BYTES / 4);
  const answered = untilReady();
  socket.write(serialize.query('SELECT 1'));
  expect(await answered).toBeGreaterThan(0);
  socket.end(serialize.end());
}, 120_000);

it('still tells a FATAL error of the server from an ERROR', async () => {
  const client = new pg.Client(connection(proxy.port));
  await client.connect();
  const { rows } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
  const ended = new Promise<Error>((resolve) => client.on('error', resolve));
  await expect(client.query(`DO $$ BEGIN RAISE EXCEPTION 'plain'; END $$`)).rejects.toMatchObject({ message: 'plain' });
  const admin = new pg.Client(connection(proxy.port));
  await admin.connect();
  await admin.query('SELECT pg_terminate_backend($1)', [rows[0]!.pid]);
  await admin.end();
  // The server's own FATAL alone, not followed by the proxy's "closed the connection unexpectedly".
  expect(await ended).toMatchObject({ code: '57P01' });
  expect(proxy.listener.stats.upstreamConnectionFailures).toBe(0);
}, 30_000);
