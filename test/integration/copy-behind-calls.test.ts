// COPY … FROM STDIN queued behind a statement the proxy runs, its data pipelined right behind it (legal: the server
// reads the data once the COPY runs). The data reaches that COPY, after it and not before; held back meanwhile, it
// counts towards the bound on what the proxy queues for the session, so that the client stops being read.

import { describe, expect, it } from 'vitest';
import { afterThisTest } from '../support/database.js';
import { databaseWithModel, proxyAndFakeProvider } from '../support/models.js';
import { RawClient, serialize } from '../support/raw-client.js';

const shared = proxyAndFakeProvider();
const MiB = 1024 ** 2;

async function copyDatabase() {
  const { name, direct } = await databaseWithModel(shared.proxy, shared.fake, 'openai', { timeout_ms: 30_000, max_retries: 0 });
  await direct.query('CREATE TABLE copied (t text)');
  const raw = await RawClient.session(shared.proxy.port, { database: name });
  afterThisTest(async () => void raw.socket.destroy());
  const copied = async () => (await direct.query('SELECT count(*)::int AS n FROM copied')).rows[0].n as number;
  return { raw, copied, direct };
}

/** Each message by name, an error by its code, a CommandComplete by its tag. */
function summary(messages: Array<{ name: string }>): string[] {
  return messages.map((message) => {
    const { name, code, text } = message as { name: string; code?: string; text?: string };
    if (name === 'commandComplete') return `${name} ${text}`;
    return code ? `${name} ${code}` : name;
  });
}

const CALL = serialize.query(`SELECT pg_llm_chat('llm', 'hi')`);
const COPY = serialize.query('COPY copied FROM STDIN');

describe('COPY data pipelined behind a COPY queued behind a call', () => {
  it('reaches that COPY, and the Query after it runs after it', async () => {
    const { raw } = await copyDatabase();
    raw.send(CALL, COPY, serialize.copyData(Buffer.from('hello\n')), serialize.copyDone(), serialize.query('SELECT count(*) FROM copied'));
    expect(summary(await raw.until('readyForQuery', 20_000))).toContain('commandComplete SELECT 1');
    expect(summary(await raw.until('readyForQuery'))).toEqual(['copyInResponse', 'commandComplete COPY 1', 'readyForQuery']);
    const count = await raw.until('readyForQuery');
    expect(count.find((message) => message.name === 'dataRow')).toMatchObject({ fields: ['1'] });
  });

  it('reaches it with nothing behind it: the COPY ends', async () => {
    const { raw, copied } = await copyDatabase();
    raw.send(CALL, COPY, serialize.copyData(Buffer.from('one\ntwo\n')), serialize.copyDone());
    await raw.until('readyForQuery', 20_000);
    expect(summary(await raw.until('readyForQuery'))).toEqual(['copyInResponse', 'commandComplete COPY 2', 'readyForQuery']);
    expect(await copied()).toBe(2);
  });

  it('behind a slow call, is read only up to a bound, then copied whole once the call ends', async () => {
    const { raw, copied } = await copyDatabase();
    let release!: () => void;
    shared.fake.script({ kind: 'reply', answer: () => 'done', hold: new Promise<void>((resolve) => (release = resolve)) });
    raw.send(CALL, COPY);
    await expect.poll(() => shared.fake.requests.length).toBe(1);
    // 1 MiB messages of 1024 rows each, written with the socket's backpressure until the proxy stops reading.
    const data = serialize.copyData(Buffer.from(`${'x'.repeat(1023)}\n`.repeat(1024)));
    let written = 0;
    while (written < 320 * MiB) {
      written += data.length;
      if (raw.socket.write(data)) continue;
      const drained = await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), 3000);
        raw.socket.once('drain', () => (clearTimeout(timer), resolve(true)));
      });
      if (!drained) break;
    }
    expect(written).toBeLessThan(64 * MiB);
    release();
    raw.send(serialize.copyDone());
    await raw.until('readyForQuery', 30_000);
    const rows = (written / data.length) * 1024;
    expect(summary(await raw.until('readyForQuery', 60_000))).toEqual(['copyInResponse', `commandComplete COPY ${rows}`, 'readyForQuery']);
    expect(await copied()).toBe(rows);
  }, 120_000);

  it('reaches a COPY in the same Query as the call', async () => {
    const { raw, copied } = await copyDatabase();
    raw.send(serialize.query(`SELECT pg_llm_chat('llm', 'hi'); COPY copied FROM STDIN`), serialize.copyData(Buffer.from('hello\n')), serialize.copyDone());
    const answer = summary(await raw.until('readyForQuery', 20_000));
    expect(answer.slice(-3)).toEqual(['copyInResponse', 'commandComplete COPY 1', 'readyForQuery']);
    expect(await copied()).toBe(1);
  });

  it('reaches a COPY that ends the block the proxy opened for a call in a Flushed pipeline', async () => {
    const { raw, copied } = await copyDatabase();
    raw.send(
      serialize.parse({ text: `SELECT pg_llm_chat('llm', 'hi')`, types: [] }),
      serialize.bind({}),
      serialize.execute({}),
      serialize.flush(),
      COPY,
      serialize.copyData(Buffer.from('hello\n')),
      serialize.copyDone(),
    );
    const answer = summary(await raw.until('readyForQuery', 20_000));
    expect(answer.slice(-3)).toEqual(['copyInResponse', 'commandComplete COPY 1', 'readyForQuery']);
    expect(await copied()).toBe(1);
  });
});

// PostgreSQL ignores a Flush or Sync that comes while it reads a COPY's data (libpq sends a Sync right after the
// Execute of a COPY FROM STDIN): behind a call, one must not stop the rest of the data reaching that COPY.
describe('a Flush or Sync among the data of a COPY queued behind a call', () => {
  const rows = (...lines: string[]) => serialize.copyData(Buffer.from(lines.map((line) => `${line}\n`).join('')));

  it('is ignored as the server ignores it: the COPY gets all its data, and the session goes on', async () => {
    const { raw, copied } = await copyDatabase();
    raw.send(CALL, COPY, rows('one'), serialize.flush(), rows('two'), serialize.sync(), rows('three'), serialize.copyDone());
    expect(summary(await raw.until('readyForQuery', 20_000))).toContain('commandComplete SELECT 1');
    expect(summary(await raw.until('readyForQuery', 20_000))).toEqual(['copyInResponse', 'commandComplete COPY 3', 'readyForQuery']);
    expect(await copied()).toBe(3);
    expect(summary(await raw.query('SELECT 1'))).toContain('commandComplete SELECT 1');
  });

  it('is ignored in a COPY in the same Query as the call', async () => {
    const { raw, copied } = await copyDatabase();
    raw.send(serialize.query(`SELECT pg_llm_chat('llm', 'hi'); COPY copied FROM STDIN`), rows('one'), serialize.flush(), rows('two'), serialize.sync(), serialize.copyDone());
    expect(summary(await raw.until('readyForQuery', 20_000)).slice(-3)).toEqual(['copyInResponse', 'commandComplete COPY 2', 'readyForQuery']);
    expect(await copied()).toBe(2);
  });

  it("is ignored in an extended-protocol COPY in the block the proxy opened for a call, sent before the COPY's answer", async () => {
    const { raw, copied, direct } = await copyDatabase();
    await direct.query('CREATE TABLE called (t text)');
    const steps = (text: string) => [serialize.parse({ text, types: [] }), serialize.bind({}), serialize.execute({})];
    // In one write, as libpq's PQexecParams sends it: the COPY's Sync comes before the server has asked for its data.
    raw.send(...steps(`INSERT INTO called VALUES (pg_llm_chat('llm', 'hi'))`), ...steps('COPY copied FROM STDIN'), serialize.sync(), rows('one', 'two'), serialize.copyDone(), serialize.sync());
    expect(summary(await raw.until('readyForQuery', 20_000))).toEqual([
      'parseComplete', 'bindComplete', 'commandComplete INSERT 0 1', 'parseComplete', 'bindComplete', 'copyInResponse', 'commandComplete COPY 2', 'readyForQuery',
    ]);
    expect(await copied()).toBe(2);
    expect((await direct.query('SELECT count(*)::int AS n FROM called')).rows[0].n).toBe(1);
    expect(summary(await raw.query('SELECT 1'))).toContain('commandComplete SELECT 1');
  });

  it('is ignored in a COPY run in the extended protocol, as libpq runs one (a Sync after its Execute and its CopyDone)', async () => {
    const { raw, copied } = await copyDatabase();
    raw.send(CALL, serialize.parse({ text: 'COPY copied FROM STDIN', types: [] }), serialize.bind({}), serialize.execute({}), serialize.sync());
    await raw.until('readyForQuery', 20_000);
    expect(summary(await raw.until('copyInResponse'))).toEqual(['parseComplete', 'bindComplete', 'copyInResponse']);
    raw.send(rows('one'), serialize.flush(), rows('two'), serialize.sync(), serialize.copyDone(), serialize.sync());
    expect(summary(await raw.until('readyForQuery', 20_000))).toEqual(['commandComplete COPY 2', 'readyForQuery']);
    expect(await copied()).toBe(2);
    expect(summary(await raw.query('SELECT 1'))).toContain('commandComplete SELECT 1');
  });

  it('sent while the call runs, lets the client leave: its backend goes, and the COPY’s lock with it', async () => {
    const { raw, direct } = await copyDatabase();
    let release!: () => void;
    shared.fake.script({ kind: 'reply', answer: () => 'done', hold: new Promise<void>((resolve) => (release = resolve)) });
    raw.send(serialize.query(`SET application_name = 'leaving-copier'`));
    await raw.until('readyForQuery');
    raw.send(CALL, COPY, rows('one'), serialize.flush());
    await expect.poll(() => shared.fake.requests.length).toBe(1);
    release();
    await raw.until('readyForQuery', 20_000);
    await raw.until('copyInResponse');
    raw.send(rows('two'), serialize.flush(), serialize.copyData(Buffer.from(`${'x'.repeat(1023)}\n`.repeat(2048))));
    raw.socket.destroy();
    const backends = async () => (await direct.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'leaving-copier'`)).rows[0].n as number;
    await expect.poll(backends, { timeout: 20_000 }).toBe(0);
  });
});

describe('COPY data over a MiB for a COPY in the same Query as a call', () => {
  it('reaches that COPY once the call is done', async () => {
    const { raw, copied } = await copyDatabase();
    const big = serialize.copyData(Buffer.from(`${'x'.repeat(1023)}\n`.repeat(2048)));
    raw.send(serialize.query(`SELECT pg_llm_chat('llm', 'hi'); COPY copied FROM STDIN`), big, serialize.copyDone());
    expect(summary(await raw.until('readyForQuery', 30_000)).slice(-3)).toEqual(['copyInResponse', 'commandComplete COPY 2048', 'readyForQuery']);
    expect(await copied()).toBe(2048);
  });
});
