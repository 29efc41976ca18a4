// Authentication is relayed: the upstream's pg_hba and passwords decide, the proxy only carries the exchange.

import pg from 'pg';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROLES } from '../support/cluster.js';
import { connection, startProxy, type TestProxy } from '../support/proxy.js';
import { psql } from '../support/psql.js';

let proxy: TestProxy;
beforeAll(async () => {
  proxy = await startProxy();
});
afterAll(() => proxy.stop());

const methods = ['trust', 'password', 'md5', 'scram'] as const;

describe.each(methods)('%s authentication through the proxy', (method) => {
  const role = ROLES[method];

  it('logs in with psql', async () => {
    const result = await psql(['-c', 'SELECT current_user'], { port: proxy.port, user: role.user, password: role.password });
    expect(result.stderr).toBe('');
    expect(result.stdout.trim()).toBe(role.user);
  });

  it('logs in with pg', async () => {
    const client = new pg.Client(connection(proxy.port, method));
    await client.connect();
    const { rows } = await client.query('SELECT current_user AS who');
    expect(rows).toEqual([{ who: role.user }]);
    await client.end();
  });

  it('leaves the session idle once logged in: the login messages are no request left open', async () => {
    const application = `idle-after-${method}`;
    const client = new pg.Client({ ...connection(proxy.port, method), application_name: application });
    await client.connect();
    try {
      const views = proxy.listener.sessionViews().filter((view) => view.application === application);
      expect(views.map((view) => view.activity)).toEqual(['idle']);
    } finally {
      await client.end();
    }
  });

  it('logs in with postgres.js', async () => {
    const sql = postgres({ ...connection(proxy.port, method), max: 1, onnotice: () => {} });
    const [row] = await sql`SELECT current_user AS who`;
    expect(row).toEqual({ who: role.user });
    await sql.end();
  });

  if (method !== 'trust') {
    it('rejects a wrong password with 28P01, and the proxy keeps serving', async () => {
      const client = new pg.Client({ ...connection(proxy.port, method), password: 'wrong' });
      await expect(client.connect()).rejects.toMatchObject({ code: '28P01' });
      const result = await psql(['-c', 'SELECT 1'], { port: proxy.port, user: role.user, password: 'wrong' });
      expect(result.status).not.toBe(0);
      expect(result.stderr).toMatch(/password authentication failed for user "\w+"/);
      const ok = await psql(['-c', 'SELECT 1'], { port: proxy.port, user: role.user, password: role.password });
      expect(ok.stdout.trim()).toBe('1');
    });
  }
});

describe('startup parameters', () => {
  it('reach the upstream unchanged: database, application_name and options', async () => {
    const client = new pg.Client({
      ...connection(proxy.port, 'postgres', 'template1'),
      application_name: 'proxy-auth-test',
      options: '-c search_path=pg_catalog -c statement_timeout=1234',
    });
    await client.connect();
    const { rows } = await client.query(
      `SELECT current_database() AS db, current_setting('application_name') AS app,
              current_setting('search_path') AS path, current_setting('statement_timeout') AS timeout`,
    );
    expect(rows[0]).toEqual({ db: 'template1', app: 'proxy-auth-test', path: 'pg_catalog', timeout: '1234ms' });
    await client.end();
  });

  it('an unknown database is the upstream\'s error (3D000)', async () => {
    const client = new pg.Client(connection(proxy.port, 'postgres', 'no_such_db'));
    await expect(client.connect()).rejects.toMatchObject({ code: '3D000' });
  });
});
