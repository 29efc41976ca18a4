// Whether a session may run the catalog's code. Every LLM statement runs code the catalog's owner wrote, with the
// session's rights: the stubs, call_result, prepare_session, the functions llm.queue's rules and the catalog's
// triggers call. Its owner may replace any of it (CREATE OR REPLACE FUNCTION), at any time. A database's owner who is
// not a superuser may install the catalog, and so own it: at a superuser's next LLM statement (or claim of its
// llm.call worker), code that owner wrote would run as a superuser, and could make it one (review35). So a session
// whose login role is a superuser, or may become one (a member of a superuser role, which SET ROLE reaches), uses no
// catalog whose owner could not act as a superuser itself; PostgreSQL's own CREATE EXTENSION gives the objects of a
// trusted extension installed by a database's owner to the bootstrap superuser for the same reason.

import { PgError } from '../../proxy/pg-error.js';
import type { SqlRunner } from './migrate.js';

/** SQL: whether the role (a name or an oid) is a superuser or a member of one. */
const maySuper = (role: string) =>
  `EXISTS (SELECT FROM pg_catalog.pg_roles s WHERE s.rolsuper AND pg_catalog.pg_has_role(${role}, s.oid, 'MEMBER'))`;

/**
 * SQL of one text value: the name of the catalog's owner when the session's login role may act as a superuser and
 * the owner may not; NULL otherwise, and without a catalog. Reads pg_catalog only, and runs none of the owner's code.
 */
export const WEAKER_CATALOG_OWNER = `(SELECT pg_catalog.pg_get_userbyid(n.nspowner)::pg_catalog.text FROM pg_catalog.pg_namespace n
   WHERE n.nspname OPERATOR(pg_catalog.=) '_pg_llm_catalog' AND ${maySuper('session_user')} AND NOT ${maySuper('n.nspowner')})`;

/** Why a session that may act as a superuser uses no catalog `owner` installed. */
export function weakerOwnerRefusal(owner: string): PgError {
  return new PgError(
    '42501',
    `the pg_llm catalog of this database belongs to role "${owner}", which is not a superuser: this session's role is or may become one, and would run code "${owner}" may change with a superuser's rights`,
    {
      hint: `Use LLM functions from a role that is not a superuser; or have the catalog installed by a superuser: DROP EXTENSION pg_llm as "${owner}", then CREATE EXTENSION pg_llm as a superuser (models are then registered again).`,
    },
  );
}

/**
 * Refuses (weakerOwnerRefusal) to go on in a session that may act as a superuser, on a catalog whose owner may not:
 * an uninstall or a key rotation writes the catalog's tables, whose triggers its owner chooses.
 */
export async function refuseWeakerOwner(client: SqlRunner): Promise<void> {
  const { rows } = await client.query<{ owner: string | null }>(`SELECT ${WEAKER_CATALOG_OWNER} AS owner`);
  const owner = rows[0]?.owner;
  if (owner) throw weakerOwnerRefusal(owner);
}
