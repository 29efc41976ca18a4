// A catalog upgrade that cannot have its locks gives up instead of waiting: while it waits for a lock on a catalog
// table, every other session's use of that table waits behind it, so one role's transaction left open after reading
// the catalog would hold up everyone for as long as it liked. It fails with 55P03 after lock_timeout (the session's
// own, else 5 s), changes nothing, and names the session holding the lock; through the proxy the client's own
// lock_timeout is as it was afterwards. So does one that cannot have the advisory lock installs take turns by, which
// any role may take and keep: after the session's lock_timeout, else a minute.

import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { migrate, shippedMigrations } from '../../src/catalog/migrate.js';
import { afterThisTest, freshDatabase } from '../support/database.js';
import { clientOf, pgAiSuite } from '../support/pg-ai.js';
import { cluster, connection } from '../support/proxy.js';

const suite = pgAiSuite();

/** A session of trust_user's, straight to the server. */
async function direct(database: string): Promise<pg.Client> {
  const client = new pg.Client(connection(cluster().port, 'trust', database));
  await client.connect();
  afterThisTest(() => client.end());
  return client;
}

/** `client` in an open transaction that has read `relation`, and its backend's pid. */
async function holdsReadLock(client: pg.Client, relation: string): Promise<number> {
  await client.query(`BEGIN; SELECT FROM ${relation} LIMIT 0`);
  return (await client.query(`SELECT pg_backend_pid() AS pid`)).rows[0].pid as number;
}

describe('a catalog upgrade blocked by a lock', () => {
  it('fails after 5 s, changes nothing, and names who holds the lock; a session of its own lock_timeout waits that long', async () => {
    const { name, client: installer } = await freshDatabase();
    await migrate(installer);
    const reader = await direct(name);
    const pid = await holdsReadLock(reader, '_pg_llm_catalog.pg_llm_sessions');
    const alter = { name: '9999_sessions_note', sql: `ALTER TABLE _pg_llm_catalog.pg_llm_sessions ADD COLUMN note text` };

    await expect(migrate(installer, [...shippedMigrations(), alter])).rejects.toMatchObject({
      sqlstate: '55P03',
      message: `could not lock the pg_llm catalog within lock_timeout (5s): session ${pid} (user trust_user) holds AccessShareLock on _pg_llm_catalog.pg_llm_sessions`,
    });
    expect((await installer.query(`SELECT count(*)::int AS n FROM _pg_llm_catalog.migrations WHERE name = $1`, [alter.name])).rows).toEqual([{ n: 0 }]);
    await installer.query(`SET lock_timeout = '50ms'`);
    await expect(migrate(installer, [...shippedMigrations(), alter])).rejects.toMatchObject({ sqlstate: '55P03', message: expect.stringContaining('within lock_timeout (50ms)') });
    expect((await installer.query(`SHOW lock_timeout`)).rows).toEqual([{ lock_timeout: '50ms' }]);

    await reader.query('COMMIT');
    expect((await migrate(installer, [...shippedMigrations(), alter])).applied).toEqual([alter.name]);
  });

  it("while a role holds the install lock, fails after the session's lock_timeout, naming who holds it, and leaves that setting as it was", async () => {
    const { name, client: installer } = await freshDatabase();
    await migrate(installer);
    const holder = await direct(name);
    await holder.query('SELECT pg_advisory_lock(7301946128)');
    const pid = (await holder.query(`SELECT pg_backend_pid() AS pid`)).rows[0].pid as number;

    await installer.query(`SET lock_timeout = '200ms'`);
    await expect(migrate(installer)).rejects.toMatchObject({
      sqlstate: '55P03',
      message: `could not take the pg_llm catalog's install lock within lock_timeout (200ms): session ${pid} (user trust_user) holds it`,
      hint: expect.stringContaining('advisory lock 7301946128'),
    });
    expect((await installer.query(`SHOW lock_timeout`)).rows).toEqual([{ lock_timeout: '200ms' }]);

    await holder.query('SELECT pg_advisory_unlock(7301946128)');
    expect((await migrate(installer)).applied).toEqual([]);
  });

  it('while a role holds the install lock, ALTER EXTENSION through the proxy fails after a minute rather than wait for ever', { timeout: 120_000 }, async () => {
    const { name } = await freshDatabase();
    const client = await clientOf(suite.proxy, name);
    await client.query('CREATE EXTENSION pg_llm');
    const holder = await direct(name);
    await holder.query('SELECT pg_advisory_lock(7301946128)');
    const pid = (await holder.query(`SELECT pg_backend_pid() AS pid`)).rows[0].pid as number;

    await expect(client.query('ALTER EXTENSION pg_llm UPDATE')).rejects.toMatchObject({
      code: '55P03',
      message: `could not take the pg_llm catalog's install lock within lock_timeout (1min): session ${pid} (user trust_user) holds it`,
    });
    expect((await client.query(`SHOW lock_timeout`)).rows).toEqual([{ lock_timeout: '0' }]);
  });

  it("through the proxy: ALTER EXTENSION fails while a view it replaces is read in an open transaction, and leaves the client's lock_timeout as it was", async () => {
    const { name } = await freshDatabase();
    const client = await clientOf(suite.proxy, name);
    await client.query('CREATE EXTENSION ai');
    const reader = await direct(name);
    const pid = await holdsReadLock(reader, 'ai.vectorizer');

    await expect(client.query('ALTER EXTENSION ai UPDATE')).rejects.toMatchObject({
      code: '55P03',
      message: expect.stringMatching(new RegExp(`: session ${pid} \\(user trust_user\\) holds .*AccessShareLock on ai\\.vectorizer\\b`)),
      hint: expect.stringContaining('SET lock_timeout to wait longer'),
    });
    expect((await client.query(`SHOW lock_timeout`)).rows).toEqual([{ lock_timeout: '0' }]);

    await reader.query('COMMIT');
    await client.query('BEGIN');
    await client.query('ALTER EXTENSION ai UPDATE');
    expect((await client.query(`SHOW lock_timeout`)).rows).toEqual([{ lock_timeout: '0' }]);
    await client.query('COMMIT');
  });
});
