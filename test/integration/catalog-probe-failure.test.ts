// The proxy asks once per session whether the catalog is installed, in the client's session. When that question
// itself fails (here: the role may not use the catalog's schema, which PostgreSQL refuses as it resolves the name),
// the failure is the statement's error, with the transaction state PostgreSQL would leave, and it is not remembered
// as "not installed": once the role may use the schema, the next call in the same session works.

import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { afterThisTest, freshDatabase } from '../support/database.js';
import { connection, startProxy, type TestProxy } from '../support/proxy.js';

let proxy: TestProxy;
beforeAll(async () => {
  proxy = await startProxy();
});
afterAll(() => proxy.stop());

const INSERT_CALL = `INSERT INTO answers SELECT pg_llm_chat('m', 'hi')`;
const DENIED = { code: '42501', message: 'permission denied for schema _pg_llm_catalog' };

/**
 * A catalog database where trust_user has a model and a table to write into, then loses USAGE on the catalog's
 * schema; a new session of trust_user through the proxy, which has not asked about the catalog yet.
 */
async function sessionWithoutCatalogUsage(): Promise<{ admin: pg.Client; session: pg.Client; grant: () => Promise<void> }> {
  const { name, client: admin } = await freshDatabase();
  const owner = await through(name, 'postgres');
  await owner.query('CREATE EXTENSION pg_llm');
  await admin.query('CREATE TABLE answers (answer text)');
  await admin.query('GRANT ALL ON answers TO PUBLIC');
  const modelOwner = await through(name, 'trust');
  await modelOwner.query(`SELECT pg_llm_add_model(false, 'mock', 'm', NULL, '{"mock_response": "hello"}')`);
  await admin.query('REVOKE USAGE ON SCHEMA _pg_llm_catalog FROM PUBLIC');
  const session = await through(name, 'trust');
  return { admin, session, grant: async () => void (await admin.query('GRANT USAGE ON SCHEMA _pg_llm_catalog TO PUBLIC')) };
}

async function through(database: string, role: 'postgres' | 'trust'): Promise<pg.Client> {
  const client = new pg.Client(connection(proxy.port, role, database));
  await client.connect();
  afterThisTest(() => client.end());
  return client;
}

async function answers(admin: pg.Client): Promise<string[]> {
  return (await admin.query('SELECT answer FROM answers')).rows.map(({ answer }) => answer as string);
}

describe('a failed question whether the catalog is installed', () => {
  it("is a Query's error, writes nothing, and is asked again by the next call", async () => {
    const { admin, session, grant } = await sessionWithoutCatalogUsage();
    await expect(session.query(INSERT_CALL)).rejects.toMatchObject(DENIED);
    expect(await answers(admin)).toEqual([]);
    expect((await session.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
    await grant();
    await session.query(INSERT_CALL);
    expect(await answers(admin)).toEqual(['hello']);
  });

  it("is an extended-protocol statement's error, and is asked again by the next call", async () => {
    const { admin, session, grant } = await sessionWithoutCatalogUsage();
    const call = `INSERT INTO answers SELECT pg_llm_chat('m', $1)`;
    await expect(session.query(call, ['hi'])).rejects.toMatchObject(DENIED);
    expect(await answers(admin)).toEqual([]);
    await grant();
    await session.query(call, ['hi']);
    expect(await answers(admin)).toEqual(['hello']);
  });

  it('fails the transaction block it is in, as any error does, and the session carries on after ROLLBACK', async () => {
    const { admin, session, grant } = await sessionWithoutCatalogUsage();
    await session.query('BEGIN');
    await expect(session.query(INSERT_CALL)).rejects.toMatchObject(DENIED);
    await expect(session.query('SELECT 1')).rejects.toMatchObject({ code: '25P02' });
    await session.query('ROLLBACK');
    await grant();
    await session.query('BEGIN');
    await session.query(INSERT_CALL);
    await session.query('COMMIT');
    expect(await answers(admin)).toEqual(['hello']);
  });
});
