// Big statements through the proxy: a name of an LLM function inside their data costs nothing, and one that must
// be parsed is parsed off the event loop, so other sessions carry on and the main thread's parser stays small.

import pg from 'pg';
import { describe, expect, it, vi } from 'vitest';
import { createHash } from 'node:crypto';
import { afterThisTest } from '../support/database.js';
import { peakGrowth } from '../support/held-memory.js';
import { RawClient, serialize } from '../support/raw-client.js';
import { databaseWithModel, proxyAndFakeProvider } from '../support/models.js';
import { connection } from '../support/proxy.js';
import { parsedOnEventLoop } from '../support/parsed-on-event-loop.js';
import { INLINE_PARSE_BYTES } from '../../src/sql/parse-task.js';

vi.mock('libpg-query', async (original) => (await import('../support/parsed-on-event-loop.js')).recordingParser(original));

const shared = proxyAndFakeProvider();

/** About `bytes` of text that mentions the LLM functions and key settings as data would, quotes doubled. */
function dataMentioningFunctions(bytes: number): string {
  const piece = `call pg_llm_chat(''m'', ''x'') of pg_llm; it''s $$ -- /* AI. set_config(''ai.openai_api_key'', ''x'') `;
  return piece.repeat(Math.ceil(bytes / piece.length));
}

function md5(text: string): string {
  return createHash('md5').update(text).digest('hex');
}

describe('big statements', () => {
  it('an 18 MB INSERT whose data mention pg_llm_chat( is forwarded untouched, unparsed, while another role is served', async () => {
    const { name, client, direct } = await databaseWithModel(shared.proxy, shared.fake, 'openai');
    await client.query('CREATE TABLE docs (body text)');
    const other = new pg.Client(connection(shared.proxy.port, 'trust', name));
    await other.connect();
    afterThisTest(() => other.end());
    // The INSERT waits for this lock in the server, so it is still running when the other role asks.
    await direct.query('BEGIN; LOCK TABLE docs IN ACCESS EXCLUSIVE MODE');
    const data = dataMentioningFunctions(17_900_000);
    let inserted = false;
    parsedOnEventLoop.length = 0;
    const insert = client.query(`INSERT INTO docs VALUES ('${data}')`).then(() => (inserted = true));
    expect((await other.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
    expect(inserted).toBe(false);
    await direct.query('COMMIT');
    await insert;
    const stored = (await direct.query(`SELECT md5(body) AS sum, length(body) AS length FROM docs`)).rows;
    expect(stored).toEqual([{ sum: md5(data.replaceAll("''", "'")), length: data.replaceAll("''", "'").length }]);
    expect(Math.max(0, ...parsedOnEventLoop)).toBeLessThanOrEqual(INLINE_PARSE_BYTES);
    expect(shared.fake.requests).toHaveLength(0);
  });

  it('a call after a big literal still runs, parsed off the event loop, in both protocols', async () => {
    const { client } = await databaseWithModel(shared.proxy, shared.fake, 'openai');
    const data = dataMentioningFunctions(1_000_000);
    parsedOnEventLoop.length = 0;
    const simple = await client.query(`SELECT length('${data}') > 0 AS long, pg_llm_chat('llm', 'hi') AS answer`);
    expect(simple.rows).toEqual([{ long: true, answer: 'default answer' }]);
    const extended = await client.query(`SELECT length('${data}') = length($1) AS same, pg_llm_chat('llm', $1) AS answer`, [data.replaceAll("''", "'")]);
    expect(extended.rows).toEqual([{ same: true, answer: 'default answer' }]);
    expect(shared.fake.requests).toHaveLength(2);
    expect(Math.max(0, ...parsedOnEventLoop)).toBeLessThanOrEqual(INLINE_PARSE_BYTES);
  });

  it('a big statement that does not parse reaches the server, which says why', async () => {
    const { client } = await databaseWithModel(shared.proxy, shared.fake, 'openai');
    const data = dataMentioningFunctions(200_000);
    await expect(client.query(`SELECT pg_llm_chat('llm', '${data}') FROM`)).rejects.toMatchObject({ code: '42601' });
    expect((await client.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
  });

  it('names in comments, string literals and dollar quotes are not calls; quoted identifiers are', async () => {
    const { client } = await databaseWithModel(shared.proxy, shared.fake, 'openai');
    const result = await client.query(
      `SELECT "pg_llm_chat"('llm', 'quoted') AS a, $tag$pg_llm_chat('llm', 'x')$tag$ AS b, E'\\'pg_llm_chat(' AS c /* pg_llm_chat('llm', 'y') /* nested */ */ -- pg_llm_chat('llm', 'z')`,
    );
    expect(result.rows).toEqual([{ a: 'default answer', b: "pg_llm_chat('llm', 'x')", c: "'pg_llm_chat(" }]);
    expect(shared.fake.requests).toHaveLength(1);
  });
});

const MiB = 1024 ** 2;

/** The messages of a RawClient up to its next ReadyForQuery, by name, with the error's SQLSTATE. */
/** Writes messages as they are: RawClient.send copies them into one buffer, which this process would hold too. */
function write(raw: RawClient, ...messages: Buffer[]): void {
  for (const message of messages) raw.socket.write(message);
}

function summary(messages: Array<{ name: string; code?: string }>): string[] {
  return messages.map((message) => (message.name === 'error' ? `error ${message.code}` : message.name));
}

describe('statements too big for the proxy to parse', () => {
  // The engine inspects every Query and Parse: the framer used to assemble each whole and mentionsFunction to copy it
  // into a string and search it on the event loop (about 7 ms a MB that every session waited).
  it('one that calls no LLM function is relayed as it comes, not held whole', async () => {
    const raw = await RawClient.session(shared.proxy.port);
    afterThisTest(async () => raw.end());
    const statement = serialize.query(`SELECT length('${'a'.repeat(200 * MiB)}') AS n`);
    let answer: string[] = [];
    const growth = await peakGrowth(async () => {
      write(raw, statement);
      answer = summary(await raw.until('readyForQuery', 90_000));
    }, 50);
    expect(answer).toEqual(['rowDescription', 'dataRow', 'commandComplete', 'readyForQuery']);
    expect(growth).toBeLessThan(64 * MiB);
  }, 120_000);

  it('a named Parse of one is relayed whole to the server, which runs it when bound', async () => {
    const raw = await RawClient.session(shared.proxy.port);
    afterThisTest(async () => raw.end());
    const parse = serialize.parse({ name: 'big', text: `SELECT length('${'a'.repeat(48 * MiB)}') + $1 AS n`, types: [23] });
    const run = () => [serialize.bind({ statement: 'big', values: ['1'] }), serialize.describe({ type: 'P' }), serialize.execute({}), serialize.sync()];
    let answer: string[] = [];
    const growth = await peakGrowth(async () => {
      write(raw, parse, ...run());
      answer = summary(await raw.until('readyForQuery', 60_000));
    }, 50);
    expect(answer).toEqual(['parseComplete', 'bindComplete', 'rowDescription', 'dataRow', 'commandComplete', 'readyForQuery']);
    expect(growth).toBeLessThan(24 * MiB);
    raw.send(...run());
    const again = await raw.until('readyForQuery', 60_000);
    expect(again.find((message) => message.name === 'dataRow')).toMatchObject({ fields: [String(48 * MiB + 1)] });
  }, 120_000);

  // The proxy cannot parse them, so it refuses them as it did when it held them: the server, which has most of the
  // statement by then, is made to refuse it as malformed, before it runs any of it.
  it('one that sets a key of pgai\'s after its first megabytes is refused unrun, and the session goes on', async () => {
    const raw = await RawClient.session(shared.proxy.port);
    afterThisTest(async () => raw.end());
    const statement = serialize.query(`SELECT length('${'a'.repeat(48 * MiB)}'); SET ai.openai_api_key TO 'sk-never-on-the-server'`);
    let answer: string[] = [];
    const growth = await peakGrowth(async () => {
      write(raw, statement);
      answer = summary(await raw.until('readyForQuery', 60_000));
    }, 50);
    expect(answer).toEqual(['error 54000', 'readyForQuery']);
    expect(growth).toBeLessThan(24 * MiB);
    // In any spelling PostgreSQL reads as the setting's name.
    const continued = `SELECT set_config('a'${' '.repeat(2 * MiB)}\n'i.openai_api_key', 'sk-never-on-the-server', false)`;
    for (const setting of [`SET "AI"/**/.openai_api_key TO 'sk-never-on-the-server'`, `SELECT set_config(E'\\x61i.openai_api_key', 'sk-never-on-the-server', false)`, continued, `DO $$ BEGIN PERFORM set_config('ai.openai_api_key', 'sk-never-on-the-server', false); END $$`]) {
      write(raw, serialize.query(`SELECT length('${'a'.repeat(11 * MiB)}'); ${setting}`));
      expect(summary(await raw.until('readyForQuery', 60_000)), setting.slice(0, 60)).toEqual(['error 54000', 'readyForQuery']);
    }
    const setting = await raw.query(`SELECT current_setting('ai.openai_api_key', true) AS key`);
    expect(setting.find((message) => message.name === 'dataRow')).toMatchObject({ fields: [null] });
  }, 120_000);

  // The proxy looks at such a statement a few milliseconds a turn, however fast it comes (paced-watch.ts), and judges
  // it only when it has looked at all of it: what the client sent after it waits until then.
  it('what follows one, in the same write, waits for its judgement and then goes in order', async () => {
    const raw = await RawClient.session(shared.proxy.port);
    afterThisTest(async () => raw.end());
    const refused = serialize.query(`SELECT length('${'a'.repeat(48 * MiB)}'), pg_llm_chat('llm', 'hi')`);
    write(raw, refused, serialize.query('SELECT 2 AS after'), serialize.query(`SELECT length('${'b'.repeat(12 * MiB)}') AS n`));
    expect(summary(await raw.until('readyForQuery', 60_000))).toEqual(['error 54000', 'readyForQuery']);
    const after = await raw.until('readyForQuery', 60_000);
    expect(after.find((message) => message.name === 'dataRow')).toMatchObject({ fields: ['2'] });
    const relayed = await raw.until('readyForQuery', 60_000);
    expect(relayed.find((message) => message.name === 'dataRow')).toMatchObject({ fields: [String(12 * MiB)] });
  }, 120_000);

  // Review Q: the interceptor, done with a call, read what the client had sent after a statement still being looked at;
  // the statement then went upstream inside the next one, relayed as it came, and the server read the client's bytes
  // as messages of their own.
  it('what follows one still being looked at when a call ends waits for it, in order', async () => {
    const { name } = await databaseWithModel(shared.proxy, shared.fake, 'mock', { mock_mode: 'echo', mock_latency_ms: 300 });
    const raw = await RawClient.session(shared.proxy.port, { database: name });
    afterThisTest(async () => raw.end());
    // Other sessions' statements take turns at the looking with this one's, so that its look lasts tens of ms.
    let loading = true;
    const load = Array.from({ length: 2 }, async () => {
      const other = await RawClient.session(shared.proxy.port);
      const statement = serialize.query(`SELECT 1 /* ${'y'.repeat(20 * MiB)} */`);
      while (loading) {
        write(other, statement);
        await other.until('readyForQuery', 60_000);
      }
      other.end();
    });
    try {
      // Held whole: under the 1 MiB held while a call runs.
      const held = serialize.query(`SELECT 1 AS held /* ${'x'.repeat(1_000_000)} */`);
      const relayed = serialize.query(`SELECT length('${'r'.repeat(12 * MiB)}') AS relayed`);
      // The call ends 300 ms after it starts: the statement is sent so that its look spans that, in one try or another.
      for (let offsetMs = 250; offsetMs <= 330; offsetMs += 8) {
        raw.send(serialize.query(`SELECT pg_llm_chat('llm', 'x') AS call`));
        await new Promise((resolve) => setTimeout(resolve, offsetMs));
        write(raw, held, relayed, serialize.query('SELECT 3 AS small'));
        const answers = [];
        for (let i = 0; i < 4; i++) answers.push(await raw.until('readyForQuery', 60_000));
        const columns = answers.map((answer) => answer.find((message) => message.name === 'rowDescription') as { fields?: Array<{ name: string }> } | undefined);
        expect(columns.map((description) => description?.fields?.[0]?.name), `${offsetMs} ms`).toEqual(['call', 'held', 'relayed', 'small']);
      }
    } finally {
      loading = false;
      await Promise.all(load);
    }
  }, 180_000);

  it('a client that leaves while one is being looked at takes its backend with it', async () => {
    const watcher = await RawClient.session(shared.proxy.port);
    afterThisTest(async () => watcher.end());
    const backends = async () => {
      const { rows } = await watcher.binaryQuery(`SELECT count(*)::text FROM pg_stat_activity WHERE application_name = 'leaves-while-judged'`);
      return Number(rows[0]![0]!.toString());
    };
    const raw = await RawClient.session(shared.proxy.port, { application_name: 'leaves-while-judged' });
    expect(await backends()).toBe(1);
    const statement = serialize.query(`SELECT length('${'a'.repeat(32 * MiB)}'), pg_llm_chat('llm', 'hi')`);
    await new Promise<void>((resolve) => raw.socket.write(statement, () => resolve()));
    raw.socket.destroy();
    await expect.poll(backends).toBe(0);
  }, 120_000);

  it('a Parse of one that calls an LLM function is refused unrun, in a block it fails as PostgreSQL would', async () => {
    const raw = await RawClient.session(shared.proxy.port);
    afterThisTest(async () => raw.end());
    shared.fake.requests.length = 0;
    await raw.query('BEGIN');
    const parse = serialize.parse({ text: `SELECT length('${'a'.repeat(48 * MiB)}'), pg_llm_chat('llm', 'hi')`, types: [] });
    let answer: string[] = [];
    const growth = await peakGrowth(async () => {
      write(raw, parse, serialize.bind({}), serialize.execute({}), serialize.sync());
      answer = summary(await raw.until('readyForQuery', 60_000));
    }, 50);
    expect(answer).toEqual(['error 54000', 'readyForQuery']);
    expect(raw.received).toEqual([]);
    expect(growth).toBeLessThan(24 * MiB);
    expect(summary(await raw.query('SELECT 1'))).toEqual(['error 25P02', 'readyForQuery']);
    expect(summary(await raw.query('ROLLBACK'))).toEqual(['commandComplete', 'readyForQuery']);
    expect(shared.fake.requests).toHaveLength(0);
  }, 120_000);
});
