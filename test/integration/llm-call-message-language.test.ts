// The llm.call trigger on a server whose messages are not in English (review25): nothing in it may depend on the
// language of the server's messages, as a check of PG_CONTEXT's phrases ("SQL statement", "PL/pgSQL function") once
// did. A server set up in German (initdb takes lc_messages from the system's locale) must still queue the job of a
// row its trigger fires for.

import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCluster, type Cluster } from '../support/cluster.js';
import { connection, startProxy, type TestProxy } from '../support/proxy.js';

const SLOW = 120_000;

describe('an llm.call trigger on a server that speaks German', () => {
  let cluster: Cluster;
  let proxy: TestProxy;
  let client: pg.Client;

  beforeAll(async () => {
    // gettext takes the language from LANGUAGE under any locale but C, so the server's messages are German here
    // without a de_DE locale installed; the server inherits the environment from pg_ctl.
    const language = process.env.LANGUAGE;
    process.env.LANGUAGE = 'de';
    try {
      cluster = await startCluster({ settings: [`lc_messages = 'C.UTF-8'`] });
    } finally {
      if (language === undefined) delete process.env.LANGUAGE;
      else process.env.LANGUAGE = language;
    }
    proxy = await startProxy({ upstream: { host: cluster.host, port: cluster.port } });
    client = new pg.Client(connection(proxy.port));
    await client.connect();
  }, SLOW);
  afterAll(async () => {
    await client?.end();
    await proxy?.stop();
    cluster?.stop();
  });

  it('queues the job of a row written', async () => {
    await client.query('CREATE EXTENSION pg_llm');
    // The server does speak German.
    await expect(client.query('SELECT 1/0')).rejects.toMatchObject({ message: 'Division durch Null' });
    await client.query(`CREATE TABLE tickets (id int PRIMARY KEY, body text, triage text)`);
    await client.query(`CREATE TRIGGER triage AFTER INSERT OR UPDATE ON tickets FOR EACH ROW EXECUTE FUNCTION llm.call('Triage: {body}', 'triage')`);
    // Safe: the write succeeds and its job waits for the worker.
    await client.query(`INSERT INTO tickets (id, body) VALUES (1, 'printer on fire')`);
    expect((await client.query(`SELECT prompt FROM llm.queue`)).rows).toEqual([{ prompt: 'Triage: printer on fire' }]);
  });
});
