// What the catalog's install runs of other roles' code: mallory (password_user) may create in schema public (as every
// role may on PostgreSQL 14 and in databases upgraded from it) and plants operators there for argument types
// pg_catalog has no operator of its own for (an oid against a regclass…), which PostgreSQL then prefers to its own
// with an implicit cast. The install runs as whoever installs (a superuser, typically), and the views it creates keep
// the operators they were made with: run as the installer, or as whoever later reads the catalog's views, her
// operators would do whatever she wrote with that role's rights.

import { describe, expect, it } from 'vitest';
import { freshDatabase } from '../support/database.js';
import { proxyAndFakeProvider } from '../support/models.js';
import { clientOf } from '../support/pg-ai.js';
import { connectAs } from '../support/roles.js';

const shared = proxyAndFakeProvider();

/** Left operand oid, and a right operand PostgreSQL would cast to oid for pg_catalog's oid = oid. */
const RIGHT_OPERANDS = ['regclass', 'regtype', 'regnamespace', 'regrole', 'regproc', 'integer'];

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
});
