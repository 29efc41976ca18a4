// The install builds into nothing another role made first. PostgreSQL's CREATE EXTENSION refuses an object the
// extension did not create, but the install runs CREATE SCHEMA IF NOT EXISTS and CREATE OR REPLACE FUNCTION, which
// take another role's schema or function as they are: a schema's owner may drop and replace every function in it
// (call_result, which every role's LLM calls pass through, or llm.call, which runs as the catalog's owner), and a
// function's owner its body, so every other role's calls would run that role's code (review28). So each schema the
// catalog uses, and each function named as one of its stubs in the stubs' schemas, must be the installer's own or a
// superuser's, checked before the install runs a statement. And once it has run, no expression the catalog keeps
// (a view's, a constraint's, a default's, a policy's, a trigger's condition, a function's body or defaults) may use a
// function or operator of another role's: an earlier install, run with the installer's search_path, bound such
// operators where PostgreSQL preferred them to pg_catalog's, and each then ran as whoever used that expression.

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

/** What the catalog's expressions may use: pg_catalog's, its own, a superuser's (extensions') and its owner's. */
export async function refuseForeignDependencies(client: SqlRunner, schemas: string[]): Promise<void> {
  // Run with the install's search_path, pg_catalog's operators are the ones named here. It goes from the few
  // functions and operators of ordinary roles to what uses them: a database's pg_depend is large.
  const { rows } = await client.query<{ dependent: string; used: string; owner: string }>(
    `WITH catalog AS (SELECT n.oid FROM pg_catalog.pg_namespace n WHERE n.nspname = ANY (ARRAY(SELECT pg_catalog.jsonb_array_elements_text($1::pg_catalog.jsonb)))),
          trusted AS (SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolsuper OR r.oid = (SELECT n.nspowner FROM pg_catalog.pg_namespace n WHERE n.nspname = $2)),
          used AS (SELECT 'pg_catalog.pg_proc'::pg_catalog.regclass::pg_catalog.oid AS class, p.oid, p.proowner AS owner FROM pg_catalog.pg_proc p
                    WHERE p.proowner NOT IN (SELECT oid FROM trusted) AND p.pronamespace NOT IN (SELECT oid FROM catalog)
                   UNION ALL
                   SELECT 'pg_catalog.pg_operator'::pg_catalog.regclass::pg_catalog.oid, o.oid, o.oprowner FROM pg_catalog.pg_operator o
                    WHERE o.oprowner NOT IN (SELECT oid FROM trusted) AND o.oprnamespace NOT IN (SELECT oid FROM catalog))
     SELECT pg_catalog.pg_describe_object(d.classid, d.objid, d.objsubid) AS dependent,
            pg_catalog.pg_describe_object(d.refclassid, d.refobjid, 0) AS used, r.rolname::pg_catalog.text AS owner
       FROM used u
       JOIN pg_catalog.pg_depend d ON d.refclassid = u.class AND d.refobjid = u.oid
       JOIN pg_catalog.pg_roles r ON r.oid = u.owner
       JOIN LATERAL (SELECT c.relnamespace FROM pg_catalog.pg_class c WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND c.oid = d.objid
                     UNION ALL SELECT c.relnamespace FROM pg_catalog.pg_rewrite w JOIN pg_catalog.pg_class c ON c.oid = w.ev_class
                                WHERE d.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass AND w.oid = d.objid
                     UNION ALL SELECT c.relnamespace FROM pg_catalog.pg_attrdef a JOIN pg_catalog.pg_class c ON c.oid = a.adrelid
                                WHERE d.classid = 'pg_catalog.pg_attrdef'::pg_catalog.regclass AND a.oid = d.objid
                     UNION ALL SELECT c.relnamespace FROM pg_catalog.pg_policy p JOIN pg_catalog.pg_class c ON c.oid = p.polrelid
                                WHERE d.classid = 'pg_catalog.pg_policy'::pg_catalog.regclass AND p.oid = d.objid
                     UNION ALL SELECT c.relnamespace FROM pg_catalog.pg_trigger t JOIN pg_catalog.pg_class c ON c.oid = t.tgrelid
                                WHERE d.classid = 'pg_catalog.pg_trigger'::pg_catalog.regclass AND t.oid = d.objid
                     UNION ALL SELECT k.connamespace FROM pg_catalog.pg_constraint k WHERE d.classid = 'pg_catalog.pg_constraint'::pg_catalog.regclass AND k.oid = d.objid
                     UNION ALL SELECT p.pronamespace FROM pg_catalog.pg_proc p WHERE d.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass AND p.oid = d.objid
                    ) AS dependent(namespace) ON dependent.namespace IN (SELECT oid FROM catalog)
      ORDER BY 1, 2 LIMIT 1`,
    [JSON.stringify(schemas), schemas[0]],
  );
  const foreign = rows[0];
  if (foreign === undefined) return;
  throw new PgError('42501', `the pg_llm catalog's ${foreign.dependent} uses ${foreign.used}, which belongs to role "${foreign.owner}": its code would run as every role that uses the catalog`, {
    hint: `An earlier version installed the catalog with a search_path "${foreign.owner}" could create in. Drop ${foreign.used}, then uninstall and install the catalog again.`,
  });
}
