// Roles of a test's own (NOLOGIN: a session takes them with SET ROLE), dropped after its database, and such sessions.

import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterThisTest } from './database.js';
import { cluster, connection, type Role } from './proxy.js';

export async function roles(...names: string[]): Promise<string[]> {
  const suffix = randomBytes(4).toString('hex');
  const created = names.map((name) => `${name}_${suffix}`);
  const admin = new pg.Client(connection(cluster().port));
  await admin.connect();
  for (const role of created) await admin.query(`CREATE ROLE ${role} NOLOGIN`);
  afterThisTest(async () => {
    for (const role of created) await admin.query(`DROP ROLE ${role}`);
    await admin.end();
  });
  return created;
}

/** A session straight to `database` (not through a proxy) that has taken `role` with SET ROLE; ended after the test. */
export async function directAs(database: string, role: string): Promise<pg.Client> {
  const client = new pg.Client(connection(cluster().port, 'postgres', database));
  await client.connect();
  afterThisTest(() => client.end());
  await client.query(`SET ROLE ${role}`);
  return client;
}

/** A session straight to `database` (not through a proxy), logged in as one of the cluster's login roles; ended after the test. */
export async function connectAs(role: Role, database: string): Promise<pg.Client> {
  const client = new pg.Client(connection(cluster().port, role, database));
  await client.connect();
  afterThisTest(() => client.end());
  return client;
}
