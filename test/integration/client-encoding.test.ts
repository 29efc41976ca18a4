// The proxy reads a statement's bytes to find its LLM calls and key settings, the server the statement converted from
// the client's encoding. In SJIS, BIG5, GBK, UHC, GB18030 and JOHAB a character may end with the byte of a backslash:
// E'\x95\x5c' is one character and a closing quote to the server, an escaped quote to the proxy, and a SET of a key
// after it reached the server unheld (review P). A session in one of them is ended as the server reports it.

import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { afterThisTest, freshDatabase } from '../support/database.js';
import { cluster, connection, startProxy } from '../support/proxy.js';
import { RawClient, serialize } from '../support/raw-client.js';

const proxy = await startProxy();

/** A startup packet with these parameters alone (pg-protocol's adds client_encoding UTF8 after them). */
function startupPacket(parameters: Record<string, string>): Buffer {
  const body = Buffer.from(`${Object.entries(parameters).map(([name, value]) => `${name}\0${value}\0`).join('')}\0`);
  const header = Buffer.alloc(8);
  header.writeInt32BE(8 + body.length, 0);
  header.writeInt32BE(3 << 16, 4);
  return Buffer.concat([header, body]);
}

describe('a client encoding in which a character may end with a backslash', () => {
  it('is refused at connection start, in each spelling the server takes', async () => {
    for (const encoding of ['SJIS', 'win932', 'Big5', 'gbk', 'UHC', 'GB18030', 'johab', 'SHIFT_JIS_2004']) {
      const raw = await RawClient.open(proxy.port);
      afterThisTest(async () => void raw.socket.destroy());
      raw.send(startupPacket({ user: 'postgres', database: 'postgres', client_encoding: encoding }));
      expect((await raw.until('error')).at(-1), encoding).toMatchObject({ code: '0A000', severity: 'FATAL', message: expect.stringContaining('is not supported by the pg_llm proxy') });
      await raw.untilClosed();
    }
    const options = await RawClient.open(proxy.port);
    afterThisTest(async () => void options.socket.destroy());
    options.send(startupPacket({ user: 'postgres', database: 'postgres', options: '-c client_encoding=BIG5' }));
    expect((await options.until('error')).at(-1)).toMatchObject({ code: '0A000', severity: 'FATAL' });
  });

  it('ends the session it is set in, its backend with it, before the statement behind it is read in it', async () => {
    const { name } = await freshDatabase();
    const raw = await RawClient.session(proxy.port, { database: name });
    afterThisTest(async () => void raw.socket.destroy());
    const answer = (await raw.query('SELECT pg_backend_pid()')) as Array<{ name: string; fields?: string[] }>;
    const pid = Number(answer.find((message) => message.name === 'dataRow')!.fields![0]);
    raw.send(serialize.query("SET client_encoding = 'SJIS'"));
    expect((await raw.until('error')).at(-1)).toMatchObject({ code: '0A000', severity: 'FATAL' });
    await raw.untilClosed();
    const direct = new pg.Client(connection(cluster().port));
    await direct.connect();
    afterThisTest(() => direct.end());
    await expect.poll(async () => (await direct.query('SELECT count(*)::int AS n FROM pg_stat_activity WHERE pid = $1', [pid])).rows[0].n).toBe(0);
  });

  it('leaves every other encoding alone', async () => {
    const client = new pg.Client(connection(proxy.port));
    await client.connect();
    afterThisTest(() => client.end());
    for (const encoding of ['LATIN1', 'EUC_JP', 'WIN1252', 'UTF8']) {
      await client.query(`SET client_encoding = '${encoding}'`);
      expect((await client.query('SHOW client_encoding')).rows[0].client_encoding).toBe(encoding);
    }
  });
});
