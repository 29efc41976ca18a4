// Notices raised while a call's arguments are computed reach the client, once each, as PostgreSQL would show those
// of a function's arguments: the fast path computes the arguments once, in the proxy's own fetches, whose notices
// used to be dropped; the general path's collect pass computes them again in its final pass, whose notices go on.

import type pg from 'pg';
import { describe, expect, it } from 'vitest';
import { databaseWithModel, proxyAndFakeProvider } from '../support/models.js';

const shared = proxyAndFakeProvider();

async function noisyDatabase(): Promise<pg.Client> {
  const { client } = await databaseWithModel(shared.proxy, shared.fake, 'openai');
  await client.query(`CREATE FUNCTION noisy(g int) RETURNS text LANGUAGE plpgsql AS $$ BEGIN RAISE NOTICE 'computing %', g; RETURN 'row ' || g; END $$`);
  return client;
}

async function noticesOf(client: pg.Client, work: () => Promise<unknown>): Promise<string[]> {
  const notices: string[] = [];
  const listener = (notice: { message?: string }) => notices.push(notice.message ?? '');
  client.on('notice', listener);
  try {
    await work();
  } finally {
    client.off('notice', listener);
  }
  return notices;
}

describe("notices raised by a call's arguments", () => {
  it('reach the client once each on the fast path: a call alone, a projection, a cursor', async () => {
    const client = await noisyDatabase();
    expect(await noticesOf(client, () => client.query(`SELECT pg_llm_chat('llm', noisy(1))`))).toEqual(['computing 1']);
    expect(await noticesOf(client, () => client.query(`SELECT g, pg_llm_chat('llm', noisy(g)) FROM generate_series(1, 3) g`))).toEqual(['computing 1', 'computing 2', 'computing 3']);
    await client.query('BEGIN');
    await client.query(`DECLARE c CURSOR FOR SELECT pg_llm_chat('llm', noisy(g)) FROM generate_series(1, 2) g`);
    expect(await noticesOf(client, () => client.query('FETCH ALL FROM c'))).toEqual(['computing 1', 'computing 2']);
    await client.query('COMMIT');
  }, 60_000);

  it('reach the client once each on the general path', async () => {
    const client = await noisyDatabase();
    const notices = await noticesOf(client, () => client.query(`SELECT g FROM generate_series(1, 2) g WHERE pg_llm_chat('llm', noisy(g)) IS NOT NULL`));
    expect(notices).toEqual(['computing 1', 'computing 2']);
  }, 60_000);
});
