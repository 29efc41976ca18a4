// The install builds into nothing another role made first. PostgreSQL's CREATE EXTENSION refuses an object the
// extension did not create, but the install runs CREATE SCHEMA IF NOT EXISTS and CREATE OR REPLACE FUNCTION, which
// take another role's schema or function as they are: a schema's owner may drop and replace every function in it
// (call_result, which every role's LLM calls pass through, or llm.call, which runs as the catalog's owner), and a
// function's owner its body, so every other role's calls would run that role's code (review28). So each schema the
// catalog uses, and each function named as one of its stubs in the stubs' schemas, must be the installer's own or a
// superuser's, checked before the install runs a statement.

import { PgError } from '../../proxy/pg-error.js';
import type { SqlRunner } from './migrate.js';

export async function refuseForeignObjects(client: SqlRunner, schemas: string[], functions: Array<{ schema: string; name: string }>): Promise<void> {
  const { rows } = await client.query<{ object: string; owner: string }>(
    `SELECT o.object, r.rolname::pg_catalog.text AS owner
       FROM (SELECT pg_catalog.format('schema %I', n.nspname) AS object, n.nspowner AS owner
               FROM pg_catalog.pg_namespace n WHERE n.nspname OPERATOR(pg_catalog.=) ANY (ARRAY(SELECT pg_catalog.jsonb_array_elements_text($1::pg_catalog.jsonb)))
             UNION ALL
             SELECT pg_catalog.format('function %s', p.oid::pg_catalog.regprocedure), p.proowner
               FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) p.pronamespace
               JOIN pg_catalog.jsonb_to_recordset($2::pg_catalog.jsonb) AS f(schema pg_catalog.text, name pg_catalog.text)
                 ON n.nspname OPERATOR(pg_catalog.=) f.schema AND p.proname OPERATOR(pg_catalog.=) f.name) AS o
       JOIN pg_catalog.pg_roles r ON r.oid OPERATOR(pg_catalog.=) o.owner
      WHERE r.rolname OPERATOR(pg_catalog.<>) current_user AND NOT r.rolsuper
      ORDER BY 1 LIMIT 1`,
    // JSON rather than arrays: the install runs through runners that send every parameter as text.
    [JSON.stringify(schemas), JSON.stringify(functions)],
  );
  const foreign = rows[0];
  if (foreign === undefined) return;
  throw new PgError('42501', `${foreign.object} belongs to role "${foreign.owner}", not to the installer or a superuser: the pg_llm catalog is not installed into it`, {
    hint: `Drop it, or install as "${foreign.owner}" if that role is the catalog's rightful owner.`,
  });
}
