// Review N of issue 12: a model provider's error text is the provider's to write, and a NUL in it ended the C string
// of the ErrorResponse's message field there: what followed read as fields of its own, so a role's server gave
// whoever called its model a SQLSTATE of its choosing ('x\0C40001\0Mplease retry': a serialization failure, which
// applications retry). Two roles, the fake provider on loopback.

import { describe, expect, it } from 'vitest';
import { databaseWithModel, proxyAndFakeProvider } from '../support/models.js';

const shared = proxyAndFakeProvider();

describe("NULs in a provider's text", () => {
  it('stay within the message they are in, the SQLSTATE the proxy\'s own', async () => {
    const { client } = await databaseWithModel(shared.proxy, shared.fake, 'openai', { max_retries: 0 });
    shared.fake.script({ kind: 'error', status: 400, message: 'abc\u0000C40001\u0000Mplease retry\u0000Hhint' });
    const error = (await client.query(`SELECT pg_llm_chat('llm', 'hi')`).catch((caught: unknown) => caught)) as { code: string; message: string; hint?: string };
    expect(error.code).toBe('22023');
    expect(error.message).toContain('abc\uFFFDC40001\uFFFDMplease retry\uFFFDHhint');
    expect(error.hint).not.toBe('hint');
    expect((await client.query('SELECT 1 AS n')).rows).toEqual([{ n: 1 }]);
  });

  it('in a streamed chunk fail the stream as the server fails such text, and the session carries on', async () => {
    const { client } = await databaseWithModel(shared.proxy, shared.fake, 'openai', { max_retries: 0 });
    shared.fake.script({ kind: 'stream', chunks: ['a', 'b\u0000C40001\u0000Mx'] });
    await expect(client.query(`SELECT chunk FROM pg_llm_chat_stream('llm', 'hi')`)).rejects.toMatchObject({ code: '22021' });
    expect((await client.query('SELECT 1 AS n')).rows).toEqual([{ n: 1 }]);
  });
});
