// One role's huge statement naming an LLM function is refused at once, not parsed in the thread every session
// shares, so another role's modest call is not held up behind it (review 4, finding 7).

import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { afterThisTest } from '../support/database.js';
import { databaseWithModel, proxyAndFakeProvider } from '../support/models.js';
import { connection } from '../support/proxy.js';

const shared = proxyAndFakeProvider();

describe("the parser's thread, shared by every session", () => {
  it("refuses a 38 MiB statement with a call (54000, with a hint); another role's 20 kB call is answered meanwhile", async () => {
    const { client, name } = await databaseWithModel(shared.proxy, shared.fake, 'openai');
    const other = new pg.Client(connection(shared.proxy.port, 'trust', name));
    await other.connect();
    afterThisTest(() => other.end());
    const replies: string[] = [];
    const big = `SELECT pg_llm_chat('llm', 'x') FROM (VALUES ${'(1+1*2-3),'.repeat(4_000_000)}(1)) v(a) FROM`;
    const first = client.query(big).then(
      () => replies.push('big answered'),
      (error: { code?: string; hint?: string }) => {
        replies.push('big refused');
        return error;
      },
    );
    const answer = await other.query(`SELECT pg_llm_chat('llm', $1 || '${'z'.repeat(20_000)}') AS a`, ['q']);
    expect(answer.rows).toEqual([{ a: 'default answer' }]);
    expect(await first).toMatchObject({ code: '54000', hint: expect.stringContaining('bind parameters') });
    expect(replies).toEqual(['big refused']);
    // The session goes on; big data as a bind parameter (past what the proxy parses, within a call's argument cap) are
    // not the proxy's to parse.
    expect((await client.query(`SELECT pg_llm_chat('llm', $1) AS a`, ['y'.repeat(16 * 1024 ** 2)])).rows).toEqual([{ a: 'default answer' }]);
    expect((await client.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
  }, 120_000);
});
