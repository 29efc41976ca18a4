// Clients that connect and say nothing each hold a socket of the proxy until --startup-timeout. Only
// --max-starting-connections of them wait at once: past it a new connection is refused as PostgreSQL refuses one past
// max_connections (FATAL 53300, then closed), and sessions already running are not touched. Once half the places are
// taken, one client address holds a tenth of them at most, so one host cannot take them all. (Linux answers on every
// 127.0.0.0/8 address: the tests connect from several.)

import net from 'node:net';
import pg from 'pg';
import { parse } from 'pg-protocol';
import type { DatabaseError } from 'pg-protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connection, startProxy, type TestProxy } from '../support/proxy.js';

const MAX_STARTING = 20;

let proxy: TestProxy;
beforeAll(async () => {
  proxy = await startProxy({ startupTimeoutMs: 60_000, maxStartingConnections: MAX_STARTING });
});
afterAll(() => proxy.stop());

function startingConnections(): number {
  return (proxy.listener as unknown as { starting: { size: number } }).starting.size;
}

/** A connection that says nothing, from 127.0.0.`host`. */
async function silentConnection(host = 1): Promise<net.Socket> {
  const socket = net.connect({ host: '127.0.0.1', port: proxy.port, localAddress: `127.0.0.${host}` });
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  return socket;
}

/** What the proxy sends a connection that says nothing, up to its close. */
async function answerTo(socket: net.Socket): Promise<DatabaseError[]> {
  const errors: DatabaseError[] = [];
  await parse(socket, (message) => {
    if (message.name === 'error') errors.push(message as DatabaseError);
  });
  return errors;
}

describe('clients that connect and say nothing', () => {
  it('wait only up to --max-starting-connections at once; the next is refused with 53300 and sessions go on', async () => {
    const running = new pg.Client(connection(proxy.port));
    await running.connect();
    // From as many hosts as there are places: none holds more than a tenth of them.
    const silent = await Promise.all(Array.from({ length: MAX_STARTING }, (_, index) => silentConnection(10 + Math.floor(index / 2))));
    try {
      await expect.poll(() => startingConnections()).toBe(MAX_STARTING);
      const rejectedBefore = proxy.listener.stats.connectionsRejected;

      const refusedDriver = new pg.Client(connection(proxy.port));
      await expect(refusedDriver.connect()).rejects.toMatchObject({ code: '53300' });

      const refusedSilent = await silentConnection();
      const errors = await answerTo(refusedSilent);
      expect(errors.map((error) => [error.severity, error.code, error.message])).toEqual([['FATAL', '53300', 'sorry, too many clients already']]);
      expect(proxy.listener.stats.connectionsRejected).toBe(rejectedBefore + 2);

      expect((await running.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
    } finally {
      for (const socket of silent) socket.destroy();
    }
    await expect.poll(() => startingConnections()).toBe(0);
    const later = new pg.Client(connection(proxy.port));
    await later.connect();
    expect((await later.query('SELECT 2 AS two')).rows).toEqual([{ two: 2 }]);
    await Promise.all([later.end(), running.end()]);
  });

  it('from one host take half the places and a tenth more at most: other hosts still connect', async () => {
    const silent = await Promise.all(Array.from({ length: MAX_STARTING / 2 }, () => silentConnection(2)));
    try {
      await expect.poll(() => startingConnections()).toBe(MAX_STARTING / 2);
      const refused = await silentConnection(2);
      const errors = await answerTo(refused);
      expect(errors.map((error) => [error.code, error.message])).toEqual([['53300', 'sorry, too many clients already']]);
      const others = await Promise.all(Array.from({ length: MAX_STARTING / 10 }, () => silentConnection(3)));
      silent.push(...others);
      await expect.poll(() => startingConnections()).toBe(MAX_STARTING / 2 + MAX_STARTING / 10);
      const fromAnother = new pg.Client(connection(proxy.port));
      await fromAnother.connect();
      expect((await fromAnother.query('SELECT 3 AS three')).rows).toEqual([{ three: 3 }]);
      await fromAnother.end();
    } finally {
      for (const socket of silent) socket.destroy();
    }
    await expect.poll(() => startingConnections()).toBe(0);
  });
});
