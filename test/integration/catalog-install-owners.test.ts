// Whose schemas and functions the catalog is installed into: mallory (password_user), who may create in the database
// (or in its public schema) but is not the installer, creates the catalog's schema or one of its functions first.
// PostgreSQL's own CREATE EXTENSION refuses to take over an object the extension did not create; the proxy's install
// must not either: the schema's owner may drop and replace every function in it (the catalog's call_result, which
// every role's LLM calls pass their arguments through, or llm.call, its SECURITY DEFINER trigger), and a function's
// owner may replace its body, so what every other role's calls run would be mallory's.

import { describe, expect, it } from 'vitest';
import { freshDatabase } from '../support/database.js';
import { proxyAndFakeProvider } from '../support/models.js';
import { clientOf } from '../support/pg-ai.js';
import { connectAs } from '../support/roles.js';

const shared = proxyAndFakeProvider();

describe('installing the catalog', () => {
  it.each([
    { schema: '_pg_llm_catalog', installedBefore: [], extension: 'pg_llm' },
    { schema: 'llm', installedBefore: [], extension: 'pg_llm' },
    { schema: 'ai', installedBefore: ['pg_llm'], extension: 'ai' },
  ])('refuses schema $schema when another role created it first', async ({ schema, installedBefore, extension }) => {
    const { name, client: direct } = await freshDatabase();
    const admin = await clientOf(shared.proxy, name);
    for (const earlier of installedBefore) await admin.query(`CREATE EXTENSION ${earlier}`);
    await direct.query(`GRANT CREATE ON DATABASE ${name} TO password_user`);
    const mallory = await connectAs('password', name);
    await mallory.query(`CREATE SCHEMA ${schema}`);

    await expect(admin.query(`CREATE EXTENSION ${extension}`)).rejects.toMatchObject({ code: '42501', message: expect.stringContaining(schema) });
    // Nothing was installed into it.
    expect((await direct.query(`SELECT count(*)::int AS n FROM pg_proc WHERE pronamespace = $1::regnamespace`, [schema])).rows).toEqual([{ n: 0 }]);
  });

  it('refuses to take over a function of the catalog that another role created first', async () => {
    const { name, client: direct } = await freshDatabase();
    await direct.query(`GRANT CREATE ON SCHEMA public TO password_user`);
    const mallory = await connectAs('password', name);
    await mallory.query(`CREATE FUNCTION public.pg_llm_chat(instance_name text, prompt text) RETURNS text LANGUAGE sql AS $$ SELECT 'mallory''s' $$`);

    const admin = await clientOf(shared.proxy, name);
    await expect(admin.query('CREATE EXTENSION pg_llm')).rejects.toMatchObject({ code: '42501', message: expect.stringContaining('pg_llm_chat') });
    expect((await direct.query(`SELECT to_regclass('_pg_llm_catalog.migrations') AS catalog`)).rows).toEqual([{ catalog: null }]);
  });
});
