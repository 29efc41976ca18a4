// An auth role for the proxy's own SCRAM (--auth-user): a login role and, in a database of its own, the lookup
// function of docs/connecting.md that it may call and nothing else. Its auth query also notes each lookup (the name
// asked about and the backend that ran it) in llm_proxy_auth.lookups, so that tests can count lookups and the
// connections they took.
// Dropped by the returned function.

import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { AuthRole } from '../../proxy/auth-query.js';
import { cluster, connection } from './proxy.js';

export interface Lookup {
  role_name: string;
  pid: number;
}

export async function createAuthRole(): Promise<{ authRole: AuthRole; lookups(): Promise<Lookup[]>; drop(): Promise<void> }> {
  const suffix = randomBytes(4).toString('hex');
  const authRole: AuthRole = {
    user: `auth_${suffix}`,
    password: `auth secret ${suffix}`,
    database: `auth_${suffix}`,
    query: 'WITH noted AS (INSERT INTO llm_proxy_auth.lookups VALUES ($1, pg_backend_pid())) SELECT llm_proxy_auth.role_secret($1)',
  };
  const admin = new pg.Client(connection(cluster().port));
  await admin.connect();
  await admin.query(`CREATE ROLE ${authRole.user} LOGIN PASSWORD '${authRole.password}'`);
  await admin.query(`CREATE DATABASE ${authRole.database}`);
  const owner = new pg.Client(connection(cluster().port, 'postgres', authRole.database));
  await owner.connect();
  await owner.query(`
    CREATE SCHEMA llm_proxy_auth;
    CREATE FUNCTION llm_proxy_auth.role_secret(role_name name) RETURNS text
      LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog
      AS $$ SELECT rolpassword FROM pg_authid WHERE rolname = role_name $$;
    REVOKE ALL ON FUNCTION llm_proxy_auth.role_secret(name) FROM PUBLIC;
    GRANT USAGE ON SCHEMA llm_proxy_auth TO ${authRole.user};
    GRANT EXECUTE ON FUNCTION llm_proxy_auth.role_secret(name) TO ${authRole.user};
    CREATE TABLE llm_proxy_auth.lookups (role_name name, pid int);
    GRANT INSERT ON llm_proxy_auth.lookups TO ${authRole.user};`);
  return {
    authRole,
    async lookups() {
      return (await owner.query<Lookup>('SELECT role_name, pid FROM llm_proxy_auth.lookups')).rows;
    },
    async drop() {
      await owner.end();
      await admin.query(`DROP DATABASE IF EXISTS ${authRole.database} WITH (FORCE)`);
      await admin.query(`DROP ROLE IF EXISTS ${authRole.user}`);
      await admin.end();
    },
  };
}
