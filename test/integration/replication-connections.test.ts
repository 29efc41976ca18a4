// A replication connection (the startup parameter replication=database, true…) talks to a walsender, which speaks
// its own protocol and SQL only in the simple one: the proxy relays it untouched, and a call of an LLM function
// there gets the server's own answer, the stub's 0A000, byte for byte as on a direct connection.

import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { afterThisTest } from '../support/database.js';
import { databaseWithModel, proxyAndFakeProvider } from '../support/models.js';
import { cluster, connection } from '../support/proxy.js';
import { RawClient, serialize } from '../support/raw-client.js';

const shared = proxyAndFakeProvider();
const CALL = `SELECT pg_llm_chat('llm', 'hello')`;
const STUB_REFUSAL = { code: '0A000', message: 'pg_llm_chat() runs in pg_llm proxy and cannot run inside the database', hint: expect.stringContaining('replication connection') };

async function replicationClient(port: number, database: string): Promise<pg.Client> {
  const client = new pg.Client({ ...connection(port, 'postgres', database), replication: 'database' } as pg.ClientConfig);
  await client.connect();
  afterThisTest(() => client.end());
  return client;
}

/** A call outside and inside a transaction block on a replication connection, as the bytes received. */
async function callAnswers(port: number, database: string): Promise<Buffer[]> {
  const raw = await RawClient.session(port, { database, replication: 'database' });
  afterThisTest(async () => raw.end());
  return [
    await raw.exchange(serialize.query(CALL)),
    await raw.exchange(serialize.query('BEGIN')),
    await raw.exchange(serialize.query(CALL)),
    await raw.exchange(serialize.query('SELECT 1')),
    await raw.exchange(serialize.query('ROLLBACK')),
    await raw.exchange(serialize.query('SELECT 1')),
  ];
}

/** What the walsender answers a call sent as a Query while it streams WAL (copy-both): the session ends with it. */
async function callWhileStreaming(port: number, database: string): Promise<Record<string, unknown>> {
  const raw = await RawClient.session(port, { database, replication: 'database' });
  const identified = await raw.query('IDENTIFY_SYSTEM');
  const { fields } = identified.find((message) => message.name === 'dataRow') as unknown as { fields: string[] };
  raw.send(serialize.query(`START_REPLICATION PHYSICAL ${fields[2]}`));
  await raw.until('replicationStart');
  raw.send(serialize.query(CALL));
  const [error] = (await raw.until('error')).slice(-1) as unknown as Array<Record<string, unknown>>;
  await raw.untilClosed();
  return { code: error!.code, severity: error!.severity, message: error!.message };
}

describe('a replication connection through the proxy', () => {
  it('runs replication commands as the walsender does directly', async () => {
    const { name } = await databaseWithModel(shared.proxy, shared.fake, 'openai');
    const direct = await replicationClient(cluster().port, name);
    const proxied = await replicationClient(shared.proxy.port, name);
    const identify = 'IDENTIFY_SYSTEM';
    expect((await proxied.query(identify)).rows[0]).toMatchObject({ systemid: (await direct.query(identify)).rows[0].systemid, dbname: name });
  });

  it('leaves a call of an LLM function to the server: the stub refuses it, the session and its block go on', async () => {
    const { name } = await databaseWithModel(shared.proxy, shared.fake, 'openai');
    const proxied = await replicationClient(shared.proxy.port, name);
    await expect(proxied.query(CALL)).rejects.toMatchObject(STUB_REFUSAL);
    expect((await proxied.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
    expect(await callAnswers(shared.proxy.port, name)).toEqual(await callAnswers(cluster().port, name));
    expect(shared.fake.requests).toHaveLength(0);
  });

  it('streams WAL, and a Query sent meanwhile ends the session with the walsender\'s error, as directly', async () => {
    const { name } = await databaseWithModel(shared.proxy, shared.fake, 'openai');
    const direct = await callWhileStreaming(cluster().port, name);
    expect(direct).toEqual({ code: '08P01', severity: 'FATAL', message: 'invalid standby message type "Q"' });
    expect(await callWhileStreaming(shared.proxy.port, name)).toEqual(direct);
    expect(shared.fake.requests).toHaveLength(0);
  });
});
