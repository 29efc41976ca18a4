// Clients that connect and say nothing each hold a socket of the proxy until --startup-timeout. Only
// --max-starting-connections of them wait at once: past it a new connection is refused as PostgreSQL refuses one past
// max_connections (FATAL 53300, then closed), and sessions already running are not touched.

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
  return (proxy.listener as unknown as { starting: Set<net.Socket> }).starting.size;
}

async function silentConnection(): Promise<net.Socket> {
  const socket = net.connect({ host: '127.0.0.1', port: proxy.port });
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
    const silent = await Promise.all(Array.from({ length: MAX_STARTING }, () => silentConnection()));
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
});
