// What a session handed the proxy is let go of where PostgreSQL lets go of the session's state: after DISCARD ALL
// (a pooler handing the connection to its next client) no key the statements set, no secret a call wrote out and no
// server they named counts any more, however its reference is written out again; after RESET ALL or RESET of a key
// setting, no key set in it. What the startup options gave stays, as the server restores it.

import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { afterThisTest } from '../support/database.js';
import { startFakeProvider } from '../support/fake-provider.js';
import { clientOf } from '../support/pg-ai.js';
import { aiDatabase, pgaiSuite } from '../support/pgai.js';
import { cluster } from '../support/proxy.js';

const suite = pgaiSuite();
const authorizations = () => suite.fake.requests.map((request) => request.authorization);
const SET_KEY = 'sk-previous-user-0123456789abcdef';
/** A table where code that saw the setting while it was set (a view of another role, a log of SHOW's output) keeps it. */
const REFERENCES = 'CREATE TABLE public.refs (v text); GRANT ALL ON public.refs TO PUBLIC';
/** The kept reference put back in the key setting, computed in SQL as the proxy cannot hold it. */
const PUT_BACK = `SELECT set_config('ai.openai_api_key', (SELECT v FROM public.refs), false)`;

describe('after DISCARD ALL', () => {
  it('a key the session set is not opened by its reference put back with set_config', async () => {
    const { client } = await aiDatabase(suite, REFERENCES, 'password');
    await client.query(`SET ai.openai_api_key = '${SET_KEY}'`);
    await client.query(`INSERT INTO public.refs SELECT current_setting('ai.openai_api_key')`);
    await client.query('DISCARD ALL');
    expect((await client.query('SHOW ai.openai_api_key')).rows).toEqual([{ 'ai.openai_api_key': '' }]);
    // The connection's next user.
    await client.query(PUT_BACK);
    await client.query(`SET ai.openai_base_url = '${suite.fake.baseUrl}'`);
    await expect(client.query(`SELECT ai.openai_embed('m', 'x')`)).rejects.toMatchObject({ code: '22023', message: 'ai.openai_api_key holds a key this session did not set through the proxy' });
    expect(suite.fake.requests).toEqual([]);
  });

  it("a secret a call wrote out is not opened by its reference, as the server's log shows it", async () => {
    const { name, direct } = await aiDatabase(suite);
    await direct.query(`ALTER DATABASE ${name} SET log_statement = 'all'`);
    const first = await clientOf(suite.proxy, name, 'password');
    const marker = `first-user-${name}`;
    await first.query(`SELECT ai.openai_embed('m', '${marker}', api_key => 'sk-call-0123456789abcdef', client_config => '{"base_url": "${suite.fake.baseUrl}"}')`);
    const logged = readFileSync(path.join(cluster().socketDir, 'server.log'), 'utf8').split('\n').find((line) => line.includes(marker));
    const reference = /held by pg_llm proxy [0-9a-f]{32}/.exec(logged ?? '')?.[0];
    expect(reference).toBeDefined();
    await first.query('DISCARD ALL');
    await expect(first.query(`SELECT ai.openai_embed('m', 'next user', api_key => '${reference}', client_config => '{"base_url": "${suite.fake.baseUrl}"}')`)).rejects.toMatchObject({
      code: '22023',
      message: "the api_key argument of openai_embed is a reference this session's statements did not hand the server",
    });
    expect(authorizations()).toEqual(['Bearer sk-call-0123456789abcdef']);
  });

  it("a server the session named, even in a rolled-back SET LOCAL, is not its choice when another role's view sets it", async () => {
    const { name, direct } = await aiDatabase(suite);
    const attacker = await startFakeProvider();
    afterThisTest(() => attacker.close());
    await direct.query(`CREATE SCHEMA shared AUTHORIZATION trust_user; GRANT USAGE ON SCHEMA shared TO PUBLIC`);
    const other = await clientOf(suite.proxy, name, 'trust');
    await other.query(`CREATE VIEW shared.innocent AS SELECT set_config('ai.openai_base_url', '${attacker.baseUrl}', false) AS x; GRANT SELECT ON shared.innocent TO PUBLIC`);
    const victim = await clientOf(suite.proxy, name, 'password');
    await victim.query(`BEGIN; SET LOCAL ai.openai_base_url = '${attacker.baseUrl}'; ROLLBACK`);
    await victim.query('DISCARD ALL');
    await victim.query(`SET ai.openai_api_key = '${SET_KEY}'`);
    await victim.query('SELECT x FROM shared.innocent');
    await expect(victim.query(`SELECT ai.openai_embed('m', 'my private text')`)).rejects.toMatchObject({ code: '42501' });
    expect(attacker.requests).toEqual([]);
  });
});

describe('after RESET', () => {
  it('of the setting or of all settings outside a block, a key set in it is not opened by its reference; one set again after it is', async () => {
    const { client } = await aiDatabase(suite, REFERENCES, 'password');
    await client.query(`SET ai.openai_base_url = '${suite.fake.baseUrl}'`);
    for (const reset of ['RESET ai.openai_api_key', 'RESET ALL', 'SET ai.openai_api_key TO DEFAULT']) {
      await client.query(`SET ai.openai_api_key = '${SET_KEY}'`);
      await client.query(`TRUNCATE public.refs; INSERT INTO public.refs SELECT current_setting('ai.openai_api_key')`);
      await client.query(reset);
      await client.query(PUT_BACK);
      await expect(client.query(`SELECT ai.openai_embed('m', 'x')`), reset).rejects.toMatchObject({ code: '22023' });
    }
    await client.query(`SET ai.openai_base_url = '${suite.fake.baseUrl}'; RESET ALL; SET ai.openai_base_url = '${suite.fake.baseUrl}'; SET ai.openai_api_key = '${SET_KEY}'`);
    await client.query(`SELECT ai.openai_embed('m', 'set again')`);
    // In a transaction block, a rollback gives the setting its key back, and the key is still held.
    await client.query(`BEGIN; SAVEPOINT s; RESET ALL; ROLLBACK TO SAVEPOINT s; COMMIT`);
    await client.query(`SELECT ai.openai_embed('m', 'rolled back')`);
    expect(authorizations()).toEqual([`Bearer ${SET_KEY}`, `Bearer ${SET_KEY}`]);
  });
});
