// What the catalog's install runs of other roles' code: mallory (password_user) may create in schema public (as every
// role may on PostgreSQL 14 and in databases upgraded from it) and plants operators there for argument types
// pg_catalog has no operator of its own for (an oid against a regclass…), which PostgreSQL then prefers to its own
// with an implicit cast. The install runs as whoever installs (a superuser, typically), and the views it creates keep
// the operators they were made with: run as the installer, or as whoever later reads the catalog's views, her
// operators would do whatever she wrote with that role's rights.

import { readFileSync } from 'node:fs';
import type pg from 'pg';
import { describe, expect, it } from 'vitest';
import { migrate, shippedMigrations } from '../../src/catalog/migrate.js';
import { freshDatabase } from '../support/database.js';
import { proxyAndFakeProvider } from '../support/models.js';
import { clientOf } from '../support/pg-ai.js';
import { connectAs } from '../support/roles.js';

const shared = proxyAndFakeProvider();

/** Left operand oid, and a right operand PostgreSQL would cast to oid for pg_catalog's oid = oid. */
const RIGHT_OPERANDS = ['regclass', 'regtype', 'regnamespace', 'regrole', 'regproc', 'integer'];

/** Mallory's =(oid, regclass) and ~(name, name) in public, each recording who ran it in public.calls. */
async function plantOperators(direct: pg.Client, database: string): Promise<void> {
  await direct.query(`GRANT CREATE ON SCHEMA public TO password_user`);
  const mallory = await connectAs('password', database);
  await mallory.query(`CREATE TABLE public.calls (caller name, operand text); GRANT INSERT ON public.calls TO PUBLIC`);
  for (const [i, [left, right, body]] of [['oid', 'regclass', 'a OPERATOR(pg_catalog.=) b::oid'], ['name', 'name', 'a::text OPERATOR(pg_catalog.~) b::text']].entries()) {
    await mallory.query(`CREATE FUNCTION public.planted${i}(a ${left}, b ${right}) RETURNS boolean LANGUAGE sql
                           AS $$ INSERT INTO public.calls VALUES (current_user, '${right}'); SELECT ${body} $$`);
    await mallory.query(`CREATE OPERATOR public.${i === 0 ? '=' : '~'} (LEFTARG = ${left}, RIGHTARG = ${right}, FUNCTION = public.planted${i})`);
  }
}

/** The catalog's expressions that use a function or operator outside pg_catalog and the catalog's own schemas. */
async function foreignUses(direct: pg.Client): Promise<string[]> {
  const { rows } = await direct.query(
    `SELECT pg_describe_object(classid, objid, objsubid) || ' uses ' || pg_describe_object(refclassid, refobjid, 0) AS use FROM pg_depend
      WHERE (refclassid = 'pg_operator'::regclass::oid AND refobjid IN (SELECT oid FROM pg_operator WHERE oprnamespace = 'public'::regnamespace::oid))
         OR (refclassid = 'pg_proc'::regclass::oid AND refobjid IN (SELECT oid FROM pg_proc WHERE pronamespace = 'public'::regnamespace::oid) AND classid <> 'pg_operator'::regclass::oid)
      ORDER BY 1`,
  );
  return rows.map((row) => row.use as string);
}

/** A statement of a shipped migration, as an earlier version ran it: with the installer's own search_path. */
function statementOf(migration: string, start: string, end: string): string {
  const sql = readFileSync(new URL(`../../catalog-migrations/incremental/${migration}.sql`, import.meta.url), 'utf8');
  return sql.slice(sql.indexOf(start), sql.indexOf(end, sql.indexOf(start)) + end.length);
}

describe('installing the catalog', () => {
  it("runs no operator another role planted in public, as the installer or later through the catalog's views", async () => {
    const { name, client: direct } = await freshDatabase();
    await direct.query(`GRANT CREATE ON SCHEMA public TO password_user`);
    const mallory = await connectAs('password', name);
    await mallory.query(`CREATE TABLE public.calls (caller name, operand text); GRANT INSERT ON public.calls TO PUBLIC`);
    for (const [i, right] of RIGHT_OPERANDS.entries()) {
      await mallory.query(`CREATE FUNCTION public.planted${i}(a oid, b ${right}) RETURNS boolean LANGUAGE sql
                             AS $$ INSERT INTO public.calls VALUES (current_user, '${right}'); SELECT a OPERATOR(pg_catalog.=) b::oid $$`);
      await mallory.query(`CREATE OPERATOR public.= (LEFTARG = oid, RIGHTARG = ${right}, FUNCTION = public.planted${i})`);
    }

    const admin = await clientOf(shared.proxy, name);
    await admin.query('CREATE EXTENSION pg_llm');
    await admin.query('CREATE EXTENSION ai');
    await admin.query('ALTER EXTENSION pg_llm UPDATE');
    await admin.query('SELECT count(*) FROM llm.queue');
    await admin.query('SELECT count(*) FROM ai.vectorizer_status');

    expect((await direct.query(`SELECT caller::text, operand, count(*)::int AS n FROM public.calls GROUP BY 1, 2 ORDER BY 1, 2`)).rows).toEqual([]);
  });

  it('makes again what an earlier install bound to operators another role planted in public', async () => {
    const { name, client: direct } = await freshDatabase();
    await plantOperators(direct, name);
    await migrate(direct, shippedMigrations().filter((migration) => migration.name < '0026'));
    // As the install ran before it pinned its search_path: with the superuser's "$user", public.
    await direct.query(statementOf('0025_llm_queue_batch_tags', 'CREATE OR REPLACE VIEW llm.queue', 'WITH CASCADED CHECK OPTION;'));
    await direct.query(`ALTER TABLE _pg_llm_catalog.pg_llm_vectorizers DROP CONSTRAINT pg_llm_vectorizers_name_check,
                          ADD ${statementOf('0013_vectorizers', 'CHECK (name', "'),")}`.slice(0, -1));
    expect(await foreignUses(direct)).toEqual([
      'constraint pg_llm_vectorizers_name_check on table _pg_llm_catalog.pg_llm_vectorizers uses operator ~(name,name)',
      'rule _RETURN on view llm.queue uses operator =(oid,regclass)',
    ]);

    await migrate(direct);
    expect(await foreignUses(direct)).toEqual([]);
    await direct.query('SELECT count(*) FROM llm.queue');
    expect((await direct.query(`SELECT caller::text, operand FROM public.calls`)).rows).toEqual([]);
  });

  it("refuses to upgrade a catalog that still runs another role's operator, naming it", async () => {
    const { name, client: direct } = await freshDatabase();
    await plantOperators(direct, name);
    await migrate(direct);
    // Bound to mallory's ~(name, name) as an earlier install might have bound an expression no migration makes again.
    await direct.query(`ALTER TABLE _pg_llm_catalog.pg_llm_vectorizers ADD CONSTRAINT bound_elsewhere CHECK (name ~ 'x')`);

    await expect(migrate(direct)).rejects.toMatchObject({
      sqlstate: '42501',
      message: expect.stringContaining('constraint bound_elsewhere on table _pg_llm_catalog.pg_llm_vectorizers uses operator public.~(name,name), which belongs to role "password_user"'),
    });
  });
});
