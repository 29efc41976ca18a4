// A fresh database per test, dropped afterwards, so tests that install the catalog do not see each other.

import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterEach } from 'vitest';
import { cluster, connection, startProxy, type ProxyOptions } from './proxy.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A fresh database and a client connected to it directly (not through the proxy). */
export async function freshDatabase(): Promise<{ name: string; client: pg.Client }> {
  const name = `t_${randomBytes(5).toString('hex')}`;
  const admin = new pg.Client(connection(cluster().port));
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  const client = new pg.Client(connection(cluster().port, 'postgres', name));
  await client.connect();
  cleanups.push(async () => {
    await client.end();
    await admin.query(`DROP DATABASE ${name} WITH (FORCE)`);
    await admin.end();
  });
  return { name, client };
}

/** Runs `cleanup` after the current test, before its database is dropped. */
export function afterThisTest(cleanup: () => Promise<void>): void {
  cleanups.push(cleanup);
}

/** A client of a proxy of its own, started with `options`, on `database`; both end after the test. */
export async function clientThrough(options: ProxyOptions, database: string): Promise<pg.Client> {
  const proxy = await startProxy(options);
  const client = new pg.Client(connection(proxy.port, 'postgres', database));
  await client.connect();
  afterThisTest(async () => {
    await client.end();
    await proxy.stop();
  });
  return client;
}
