// Who gives the catalog's rows their ids: two ordinary roles on one database, alice (trust_user) calling a model on
// the fake provider, mallory (password_user) writing catalog rows of her own by hand. Every role may insert its own
// audit, trace, session, knowledge… rows, but their ids are drawn from the tables' identity sequences: a row with an
// id of mallory's choosing would take one the sequence is still to hand out, and the insert that draws it (any role's
// call writing its audit row) would fail on the primary key.

import { describe, expect, it } from 'vitest';
import { databaseWithModel, proxyAndFakeProvider } from '../support/models.js';
import { clientOf } from '../support/pg-ai.js';
import { connectAs } from '../support/roles.js';

const shared = proxyAndFakeProvider();

describe("the catalog's row ids", () => {
  it("cannot be taken ahead of alice's calls by audit rows mallory inserts with ids of her choosing", async () => {
    const { name } = await databaseWithModel(shared.proxy, shared.fake, 'openai');
    const mallory = await connectAs('password', name);
    // Her own row tells her where the sequence is.
    const { rows } = await mallory.query(
      `INSERT INTO _pg_llm_catalog.pg_llm_audit_log (request_id, event_type, success) VALUES (gen_random_uuid(), 'probe', true) RETURNING id`,
    );
    const squatted = mallory.query(
      `INSERT INTO _pg_llm_catalog.pg_llm_audit_log (id, request_id, event_type, success) OVERRIDING SYSTEM VALUE
       SELECT $1::bigint + n, gen_random_uuid(), 'squat', true FROM generate_series(1, 100) AS n`,
      [rows[0].id],
    );
    await expect(squatted).rejects.toMatchObject({ code: '42501' });

    // Safe: alice's call writes its audit row under the next id, whatever mallory tried.
    const alice = await clientOf(shared.proxy, name, 'trust');
    shared.fake.script({ kind: 'answer', content: 'still answered' });
    expect((await alice.query(`SELECT pg_llm_chat('llm', 'hello') AS answer`)).rows).toEqual([{ answer: 'still answered' }]);
    expect((await alice.query(`SELECT count(*)::int AS n FROM _pg_llm_catalog.pg_llm_audit_log`)).rows).toEqual([{ n: 1 }]);
  });

  it('take no value from a role that inserts, in any catalog table', async () => {
    const { name } = await databaseWithModel(shared.proxy, shared.fake, 'openai');
    const mallory = await connectAs('password', name);
    const { rows } = await mallory.query(
      `SELECT a.attrelid::regclass::text AS relation, a.attname::text AS id_column
         FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname IN ('_pg_llm_catalog', 'llm', 'ai') AND a.attidentity <> '' AND NOT a.attisdropped
          AND has_column_privilege(a.attrelid, a.attnum, 'INSERT')
        ORDER BY 1`,
    );
    expect(rows).toEqual([]);
  });
});
