// A statement_timeout that fires while the proxy runs a statement's calls is reported in the server's words, as
// directly: the client sent no cancel, so "due to user request" would send it looking for one. The session and its
// transaction state go on as after any error.

import { describe, expect, it } from 'vitest';
import { databaseWithModel, proxyAndFakeProvider } from '../support/models.js';

const shared = proxyAndFakeProvider();
/** A statement whose collect pass certainly outlasts the timeout: it sleeps ten times as long. */
const SLOW_CALLS = `INSERT INTO answers SELECT pg_llm_chat('llm', 'hello') FROM pg_sleep(0.5)`;
const TIMED_OUT = { code: '57014', message: 'canceling statement due to statement timeout' };

describe('a statement timeout during the passes of a statement with calls', () => {
  it('is the statement error in the server\'s words, nothing written, and the session goes on', async () => {
    const { client, direct } = await databaseWithModel(shared.proxy, shared.fake, 'openai');
    await direct.query('CREATE TABLE answers (answer text)');
    await client.query(`SET statement_timeout = '50ms'`);
    await expect(client.query(SLOW_CALLS)).rejects.toMatchObject(TIMED_OUT);
    await client.query('BEGIN');
    await expect(client.query(SLOW_CALLS)).rejects.toMatchObject(TIMED_OUT);
    await expect(client.query('SELECT 1')).rejects.toMatchObject({ code: '25P02' });
    await client.query('ROLLBACK');
    await client.query('RESET statement_timeout');
    expect((await direct.query('SELECT count(*)::int AS n FROM answers')).rows).toEqual([{ n: 0 }]);
    expect(shared.fake.requests).toHaveLength(0);
  });
});
