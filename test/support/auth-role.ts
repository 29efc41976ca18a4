// An auth role for the proxy's own SCRAM (--auth-user): a login role and, in a database of its own, the README's
// lookup function that it may call and nothing else. Dropped by the returned function.

import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { AuthRole } from '../../proxy/auth-query.js';
import { cluster, connection } from './proxy.js';

export async function createAuthRole(): Promise<{ authRole: AuthRole; drop(): Promise<void> }> {
  const suffix = randomBytes(4).toString('hex');
  const authRole: AuthRole = { user: `auth_${suffix}`, password: `auth secret ${suffix}`, database: `auth_${suffix}`, query: 'SELECT llm_proxy_auth.role_secret($1)' };
  const admin = new pg.Client(connection(cluster().port));
  await admin.connect();
  await admin.query(`CREATE ROLE ${authRole.user} LOGIN PASSWORD '${authRole.password}'`);
  await admin.query(`CREATE DATABASE ${authRole.database}`);
  const owner = new pg.Client(connection(cluster().port, 'postgres', authRole.database));
  await owner.connect();
  await owner
    .query(`
    CREATE SCHEMA llm_proxy_auth;
    CREATE FUNCTION llm_proxy_auth.role_secret(role_name name) RETURNS text
      LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog
      AS $$ SELECT rolpassword FROM pg_authid WHERE rolname = role_name $$;
    REVOKE ALL ON FUNCTION llm_proxy_auth.role_secret(name) FROM PUBLIC;
    GRANT USAGE ON SCHEMA llm_proxy_auth TO ${authRole.user};
    GRANT EXECUTE ON FUNCTION llm_proxy_auth.role_secret(name) TO ${authRole.user};`)
    .finally(() => owner.end());
  return {
    authRole,
    async drop() {
      await admin.query(`DROP DATABASE IF EXISTS ${authRole.database} WITH (FORCE)`);
      await admin.query(`DROP ROLE IF EXISTS ${authRole.user}`);
      await admin.end();
    },
  };
}
