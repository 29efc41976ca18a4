// What one session may make the interception engine hold: client messages pipelined behind a statement the proxy
// took over, portals of LLM statements with their parameters, and prepared LLM statements with the text their plans
// keep. Each is bounded, whatever the client sends.

import { describe, expect, it } from 'vitest';
import { afterThisTest } from '../support/database.js';
import { databaseWithModel, proxyAndFakeProvider } from '../support/models.js';
import { RawClient, serialize } from '../support/raw-client.js';

const shared = proxyAndFakeProvider();
const MiB = 1024 ** 2;

/** Writes `statement` again and again with the socket's backpressure, until `limit` bytes or the client is held. */
async function flood(raw: RawClient, statement: Buffer, limit: number): Promise<number> {
  let written = 0;
  while (written < limit) {
    const flushed = raw.socket.write(statement);
    written += statement.length;
    if (flushed) continue;
    // Held: the proxy stopped reading, so the client's writes stop draining (checked again after a pause).
    const drained = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), 3000);
      raw.socket.once('drain', () => (clearTimeout(timer), resolve(true)));
    });
    if (!drained) break;
  }
  return written;
}

/** The upstream backends of a database's sessions, other than the asking one. */
async function backends(direct: { query(sql: string, values: unknown[]): Promise<{ rows: Array<{ n: number }> }> }, name: string): Promise<number> {
  const result = await direct.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`, [name]);
  return result.rows[0]!.n;
}

describe('messages queued behind a statement the proxy runs', () => {
  it('are read from the client only up to a bound while a model call runs', async () => {
    const { name } = await databaseWithModel(shared.proxy, shared.fake, 'openai', { timeout_ms: 15_000, max_retries: 0 });
    shared.fake.script({ kind: 'stall' });
    const raw = await RawClient.session(shared.proxy.port, { database: name });
    afterThisTest(async () => void raw.socket.destroy());
    raw.send(serialize.query(`SELECT pg_llm_chat('llm', 'hi')`));
    await expect.poll(() => shared.fake.requests.length).toBe(1);
    // Plain 8 MiB statements with no LLM name in them: the engine queues them behind the call.
    const written = await flood(raw, serialize.query(`SELECT '${'x'.repeat(8 * MiB)}' AS pad`), 320 * MiB);
    expect(written).toBeLessThan(64 * MiB);
  }, 60_000);

  it('are answered in order once the call ends, the client read again', async () => {
    const { name } = await databaseWithModel(shared.proxy, shared.fake, 'openai', { timeout_ms: 15_000, max_retries: 0 });
    shared.fake.script({ kind: 'answer', content: 'first' });
    const raw = await RawClient.session(shared.proxy.port, { database: name });
    afterThisTest(async () => void raw.socket.destroy());
    // 12 statements of 1 MiB: three times the bound, so the client is held and read again before the last one.
    const pad = 'x'.repeat(MiB);
    raw.send(serialize.query(`SELECT pg_llm_chat('llm', 'hi') AS a`), ...Array.from({ length: 12 }, (_, i) => serialize.query(`SELECT ${i} AS i, length('${pad}') AS n`)));
    const answers = [];
    for (let i = 0; i <= 12; i++) answers.push(...(await raw.until('readyForQuery', 30_000)));
    const rows = answers.filter((message) => message.name === 'dataRow').map((message) => (message as unknown as { fields: string[] }).fields[0]);
    expect(rows).toEqual(['first', ...Array.from({ length: 12 }, (_, i) => String(i))]);
  }, 60_000);

  it('do not keep the session alive once the held client disconnects', async () => {
    const { name, direct } = await databaseWithModel(shared.proxy, shared.fake, 'openai', { timeout_ms: 120_000, max_retries: 0 });
    const others = await backends(direct, name);
    shared.fake.script({ kind: 'stall' });
    const raw = await RawClient.session(shared.proxy.port, { database: name });
    raw.send(serialize.query(`SELECT pg_llm_chat('llm', 'hi')`));
    await expect.poll(() => shared.fake.requests.length).toBe(1);
    await flood(raw, serialize.query(`SELECT '${'x'.repeat(8 * MiB)}' AS pad`), 64 * MiB);
    expect(await backends(direct, name)).toBe(others + 1);
    // A reset: a graceful close waits in the client's kernel behind the bytes the proxy is not reading yet.
    raw.socket.resetAndDestroy();
    // Far less than the call's timeout_ms: the session ends with its client, not with the model call.
    await expect.poll(() => backends(direct, name), { timeout: 20_000, interval: 200 }).toBe(others);
  }, 60_000);
});

describe('portals of LLM statements', () => {
  it('are forgotten with their parameters once the server dropped them at the end of their transaction', async () => {
    const { name } = await databaseWithModel(shared.proxy, shared.fake, 'openai');
    const raw = await RawClient.session(shared.proxy.port, { database: name });
    afterThisTest(async () => void raw.socket.destroy());
    raw.send(serialize.parse({ name: 's', text: `SELECT pg_llm_chat('llm', $1)`, types: [] }), serialize.sync());
    await raw.until('readyForQuery');
    const value = 'p'.repeat(8 * MiB);
    global.gc?.();
    const before = process.memoryUsage().arrayBuffers;
    for (let i = 0; i < 30; i++) {
      // Bound, never executed; the Sync ends the implicit transaction, and PostgreSQL drops the portal.
      raw.send(serialize.bind({ portal: `p${i}`, statement: 's', values: [value] }), serialize.sync());
      await raw.until('readyForQuery', 20_000);
    }
    global.gc?.();
    await new Promise((resolve) => setTimeout(resolve, 200));
    // 30 portals of 8 MiB, kept twice each, would be 480 MiB.
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(64 * MiB);
  }, 120_000);

  it('bound in a transaction block stay usable until it ends, and are gone after', async () => {
    const { name } = await databaseWithModel(shared.proxy, shared.fake, 'openai');
    const raw = await RawClient.session(shared.proxy.port, { database: name });
    afterThisTest(async () => void raw.socket.destroy());
    shared.fake.script({ kind: 'answer', content: 'in block' });
    raw.send(
      serialize.query('BEGIN'),
      serialize.parse({ name: 's', text: `SELECT pg_llm_chat('llm', $1) AS a`, types: [] }),
      serialize.bind({ portal: 'kept', statement: 's', values: ['hi'] }),
      serialize.sync(),
    );
    await raw.until('readyForQuery');
    await raw.until('readyForQuery');
    raw.send(serialize.execute({ portal: 'kept' }), serialize.sync());
    const inBlock = await raw.until('readyForQuery', 20_000);
    expect(inBlock.filter((message) => message.name === 'dataRow').map((message) => (message as unknown as { fields: string[] }).fields[0])).toEqual(['in block']);
    raw.send(serialize.query('COMMIT'));
    await raw.until('readyForQuery');
    // PostgreSQL dropped the portal with the block: an Execute is its to refuse, with no model call.
    const calls = shared.fake.requests.length;
    raw.send(serialize.execute({ portal: 'kept' }), serialize.sync());
    const after = await raw.until('readyForQuery', 20_000);
    expect(after.find((message) => message.name === 'error')).toMatchObject({ code: '34000' });
    expect(shared.fake.requests.length).toBe(calls);
  }, 60_000);

  /** A raw session inside a transaction block, with statement "s" calling the model prepared. */
  async function sessionInBlock(): Promise<RawClient> {
    const { name } = await databaseWithModel(shared.proxy, shared.fake, 'openai');
    const raw = await RawClient.session(shared.proxy.port, { database: name });
    afterThisTest(async () => void raw.socket.destroy());
    raw.send(serialize.query('BEGIN'), serialize.parse({ name: 's', text: `SELECT pg_llm_chat('llm', $1) AS a`, types: [] }), serialize.sync());
    await raw.until('readyForQuery');
    await raw.until('readyForQuery');
    return raw;
  }

  it('are refused past the per-session limit with 54000, the session still usable', async () => {
    const raw = await sessionInBlock();
    // Inside a block every portal stays open: the 257th is one too many.
    raw.send(...Array.from({ length: 257 }, (_, i) => serialize.bind({ portal: `p${i}`, statement: 's', values: ['v'] })), serialize.sync());
    const answers = await raw.until('readyForQuery', 20_000);
    expect(answers.filter((message) => message.name === 'bindComplete')).toHaveLength(256);
    expect(answers.find((message) => message.name === 'error')).toMatchObject({ code: '54000' });
    raw.send(serialize.query('ROLLBACK'));
    await raw.until('readyForQuery');
    raw.send(serialize.query('SELECT 1 AS one'));
    const after = await raw.until('readyForQuery');
    expect(after.find((message) => message.name === 'error')).toBeUndefined();
  }, 60_000);

  it('are refused with 54000 once their parameters would pass 256 MiB, and a block that ends gives their room back', async () => {
    const raw = await sessionInBlock();
    const value = 'v'.repeat(90 * MiB);
    const bind = (portal: string) => [serialize.bind({ portal, statement: 's', values: [value] }), serialize.sync()];
    raw.send(...bind('p1'), ...bind(''));
    expect((await raw.until('readyForQuery', 60_000)).find((message) => message.name === 'error')).toBeUndefined();
    expect((await raw.until('readyForQuery', 60_000)).find((message) => message.name === 'error')).toBeUndefined();
    // Binding the unnamed portal again replaces it; a third portal would keep 270 MiB.
    raw.send(...bind(''), ...bind('p3'));
    expect((await raw.until('readyForQuery', 60_000)).find((message) => message.name === 'error')).toBeUndefined();
    const refused = (await raw.until('readyForQuery', 60_000)).find((message) => message.name === 'error');
    expect(refused).toMatchObject({ code: '54000', message: expect.stringContaining('256 MiB') });
    raw.send(serialize.query('ROLLBACK'), serialize.query('BEGIN'));
    await raw.until('readyForQuery');
    await raw.until('readyForQuery');
    raw.send(...bind('p3'));
    expect((await raw.until('readyForQuery', 60_000)).find((message) => message.name === 'error')).toBeUndefined();
  }, 120_000);

  it('closed by the client do not count towards the limit', async () => {
    const raw = await sessionInBlock();
    const bindAndClose = (i: number) => [serialize.bind({ portal: `p${i}`, statement: 's', values: ['v'] }), serialize.close({ type: 'P', name: `p${i}` })];
    raw.send(...Array.from({ length: 300 }, (_, i) => bindAndClose(i)).flat(), serialize.sync());
    const answers = await raw.until('readyForQuery', 20_000);
    expect(answers.find((message) => message.name === 'error')).toBeUndefined();
    expect(answers.filter((message) => message.name === 'bindComplete')).toHaveLength(300);
  }, 60_000);
});

describe('prepared statements calling LLM functions', () => {
  /** A statement of over 6 MiB: its plan keeps it, and the fast path's rewriting of it. */
  const big = `SELECT pg_llm_chat('llm', 'hi') AS a /* ${'x'.repeat(6 * MiB)} */`;

  /** Parses `text` as statement `name` in a block of its own; the error answering it, if any. */
  async function prepare(raw: RawClient, name: string, text: string): Promise<Record<string, unknown> | undefined> {
    raw.send(serialize.parse({ name, text, types: [] }), serialize.sync());
    return (await raw.until('readyForQuery', 60_000)).find((message) => message.name === 'error') as Record<string, unknown> | undefined;
  }

  it('are refused with 54000 once their plans would keep more than 64 MiB of text, the session still usable', async () => {
    const { name } = await databaseWithModel(shared.proxy, shared.fake, 'openai');
    const raw = await RawClient.session(shared.proxy.port, { database: name });
    afterThisTest(async () => void raw.socket.destroy());
    let accepted = 0;
    let refusal: Record<string, unknown> | undefined;
    // Each plan keeps 6 to 13 MiB: 64 MiB take at least 5 statements, and no more than 11.
    while (!refusal && accepted <= 11) {
      refusal = await prepare(raw, `s${accepted}`, big);
      if (!refusal) accepted++;
    }
    expect(accepted).toBeGreaterThanOrEqual(5);
    expect(accepted).toBeLessThan(11);
    expect(refusal).toMatchObject({ code: '54000', message: expect.stringContaining('64 MiB') });
    expect(refusal!.hint).toMatch(/DEALLOCATE/);
    // The server never got the refused statement; the ones before it still run.
    shared.fake.script({ kind: 'answer', content: 'still prepared' });
    raw.send(serialize.bind({ statement: `s${accepted}` }), serialize.execute({}), serialize.sync());
    expect((await raw.until('readyForQuery', 20_000)).find((message) => message.name === 'error')).toMatchObject({ code: '26000' });
    raw.send(serialize.bind({ statement: 's0' }), serialize.execute({}), serialize.sync());
    const run = await raw.until('readyForQuery', 20_000);
    expect(run.filter((message) => message.name === 'dataRow').map((message) => (message as unknown as { fields: string[] }).fields[0])).toEqual(['still prepared']);
    const simple = await raw.query('SELECT 1 AS one');
    expect(simple.find((message) => message.name === 'error')).toBeUndefined();
  }, 240_000);

  it('refused in a pipeline skip what follows up to the Sync, as any error does', async () => {
    const { name } = await databaseWithModel(shared.proxy, shared.fake, 'openai');
    const raw = await RawClient.session(shared.proxy.port, { database: name });
    afterThisTest(async () => void raw.socket.destroy());
    const statements = 11;
    raw.send(...Array.from({ length: statements }, (_, i) => serialize.parse({ name: `s${i}`, text: big, types: [] })), serialize.parse({ name: 'after', text: 'SELECT 1', types: [] }), serialize.sync());
    const answers = await raw.until('readyForQuery', 120_000);
    const parsed = answers.filter((message) => message.name === 'parseComplete').length;
    expect(parsed).toBeLessThan(statements);
    // One error, last: nothing after the refused Parse was answered.
    expect(answers.filter((message) => message.name === 'error')).toHaveLength(1);
    expect(answers.at(-2)).toMatchObject({ name: 'error', code: '54000' });
    raw.send(serialize.describe({ type: 'S', name: 'after' }), serialize.sync());
    expect((await raw.until('readyForQuery')).find((message) => message.name === 'error')).toMatchObject({ code: '26000' });
  }, 240_000);

  it('closed or redefined no longer count towards the limit', async () => {
    const { name } = await databaseWithModel(shared.proxy, shared.fake, 'openai');
    const raw = await RawClient.session(shared.proxy.port, { database: name });
    afterThisTest(async () => void raw.socket.destroy());
    // Twelve times over 6 MiB: well past the limit, had any of them been counted after it was gone.
    for (let i = 0; i < 6; i++) expect(await prepare(raw, '', big)).toBeUndefined();
    for (let i = 0; i < 6; i++) {
      expect(await prepare(raw, `closed${i}`, big)).toBeUndefined();
      raw.send(serialize.close({ type: 'S', name: `closed${i}` }), serialize.sync());
      await raw.until('readyForQuery');
    }
  }, 240_000);

  it('dropped by DEALLOCATE or DISCARD ALL no longer count, unless the server did not drop them', async () => {
    const { name } = await databaseWithModel(shared.proxy, shared.fake, 'openai');
    const raw = await RawClient.session(shared.proxy.port, { database: name });
    afterThisTest(async () => void raw.socket.destroy());
    const errors = (answers: Array<{ name: string }>) => answers.filter((message) => message.name === 'error');
    // Twelve times over 6 MiB, under names of their own, four at a time, dropped as a pooler resets a session, or by name.
    for (const [round, drop] of ['DISCARD ALL', 'DEALLOCATE ALL', 'DEALLOCATE r2_0; DEALLOCATE PREPARE "r2_1"; DEALLOCATE r2_2; DEALLOCATE r2_3'].entries()) {
      for (let i = 0; i < 4; i++) expect(await prepare(raw, `r${round}_${i}`, big)).toBeUndefined();
      expect(errors(await raw.query(drop))).toEqual([]);
    }
    // The rows of a query that drops one are relayed as they are, a big one too.
    expect(await prepare(raw, 'kept', `SELECT pg_llm_chat('llm', 'hi') AS a`)).toBeUndefined();
    expect(await prepare(raw, 'gone', `SELECT pg_llm_chat('llm', 'hi') AS a`)).toBeUndefined();
    const answers = await raw.query(`DEALLOCATE gone; SELECT repeat('y', ${2 * MiB}) AS big, 7 AS n`);
    expect(answers.filter((message) => message.name === 'dataRow')).toEqual([expect.objectContaining({ fields: ['y'.repeat(2 * MiB), '7'] })]);
    // A DEALLOCATE the server refused (in a failed block) leaves the statement as the proxy knew it: it still runs.
    expect(errors(await raw.query('BEGIN; SELECT 1/0'))).toHaveLength(1);
    expect(errors(await raw.query('DEALLOCATE kept'))).toEqual([expect.objectContaining({ code: '25P02' })]);
    await raw.query('ROLLBACK');
    shared.fake.script({ kind: 'answer', content: 'still prepared' });
    raw.send(serialize.bind({ statement: 'kept' }), serialize.execute({}), serialize.sync());
    const run = await raw.until('readyForQuery', 20_000);
    expect(run.filter((message) => message.name === 'dataRow').map((message) => (message as unknown as { fields: string[] }).fields[0])).toEqual(['still prepared']);
  }, 240_000);

  it('stay what they were when the server refuses a Parse over their name (42P05)', async () => {
    const { name } = await databaseWithModel(shared.proxy, shared.fake, 'openai');
    const raw = await RawClient.session(shared.proxy.port, { database: name });
    afterThisTest(async () => void raw.socket.destroy());
    const answer = async () => {
      raw.send(serialize.bind({ statement: 'asked' }), serialize.execute({}), serialize.sync());
      const run = await raw.until('readyForQuery', 20_000);
      return run.map((message) => (message.name === 'dataRow' ? (message as unknown as { fields: string[] }).fields[0] : message.name === 'error' ? (message as unknown as { code: string }).code : undefined)).filter(Boolean);
    };
    const reply = { kind: 'reply' as const, answer: (messages: Array<{ content: string }>) => `asked: ${messages.at(-1)!.content}` };
    shared.fake.script(reply, reply);
    expect(await prepare(raw, 'asked', `SELECT pg_llm_chat('llm', 'first') AS a`)).toBeUndefined();
    // A plain statement, then another LLM one, over the name: the server keeps the first, and so does the proxy.
    expect(await prepare(raw, 'asked', 'SELECT 1 AS a')).toMatchObject({ code: '42P05' });
    expect(await prepare(raw, 'asked', `SELECT pg_llm_chat('llm', 'second') AS a`)).toMatchObject({ code: '42P05' });
    expect(await answer()).toEqual(['asked: first']);
    // Closed, the name takes a new statement.
    raw.send(serialize.close({ type: 'S', name: 'asked' }), serialize.sync());
    await raw.until('readyForQuery');
    expect(await prepare(raw, 'asked', `SELECT pg_llm_chat('llm', 'third') AS a`)).toBeUndefined();
    expect(await answer()).toEqual(['asked: third']);
  }, 120_000);

  it('stay what they were for a Bind pipelined behind a Parse over their name that the server refuses (42P05)', async () => {
    const { name } = await databaseWithModel(shared.proxy, shared.fake, 'openai');
    const raw = await RawClient.session(shared.proxy.port, { database: name });
    afterThisTest(async () => void raw.socket.destroy());
    expect(await prepare(raw, 'asked', `SELECT pg_llm_chat('llm', 'first') AS a`)).toBeUndefined();
    shared.fake.script({ kind: 'answer', content: 'still first' });
    // In one write, as a driver sends them: the Bind is read while the server's answer to the Parse is on its way.
    raw.send(serialize.parse({ name: 'asked', text: 'SELECT 2 AS a', types: [] }), serialize.sync(), serialize.bind({ statement: 'asked' }), serialize.execute({}), serialize.sync());
    expect((await raw.until('readyForQuery')).find((message) => message.name === 'error')).toMatchObject({ code: '42P05' });
    const run = await raw.until('readyForQuery', 20_000);
    expect(run.filter((message) => message.name === 'error')).toEqual([]);
    expect(run.filter((message) => message.name === 'dataRow').map((message) => (message as unknown as { fields: string[] }).fields[0])).toEqual(['still first']);
  });

  it('unnamed, stay when the proxy refuses a Parse over it, which the server never sees', async () => {
    const { name } = await databaseWithModel(shared.proxy, shared.fake, 'openai');
    const raw = await RawClient.session(shared.proxy.port, { database: name });
    afterThisTest(async () => void raw.socket.destroy());
    expect(await prepare(raw, '', `SELECT pg_llm_chat('llm', 'hi') AS a`)).toBeUndefined();
    // A key setting the proxy cannot parse is refused by it (42601): the server keeps its unnamed statement.
    expect(await prepare(raw, '', `SET ai.openai_api_key = 'sk-broken-0123456789' garbage`)).toMatchObject({ code: '42601' });
    // So does one too big for the proxy to parse, which it relays spoilt: the server refuses it before running it.
    expect(await prepare(raw, '', `SELECT pg_llm_chat('llm', '${'x'.repeat(11 * MiB)}')`)).toMatchObject({ code: '54000' });
    shared.fake.script({ kind: 'answer', content: 'still unnamed' });
    raw.send(serialize.bind({}), serialize.execute({}), serialize.sync());
    const run = await raw.until('readyForQuery', 20_000);
    expect(run.filter((message) => message.name === 'dataRow').map((message) => (message as unknown as { fields: string[] }).fields[0])).toEqual(['still unnamed']);
  }, 120_000);

  it(`are still refused past 4096 in a session, however small`, async () => {
    const { name } = await databaseWithModel(shared.proxy, shared.fake, 'openai');
    const raw = await RawClient.session(shared.proxy.port, { database: name });
    afterThisTest(async () => void raw.socket.destroy());
    raw.send(...Array.from({ length: 4097 }, (_, i) => serialize.parse({ name: `s${i}`, text: `SELECT pg_llm_chat('llm', 'hi')`, types: [] })), serialize.sync());
    const answers = await raw.until('readyForQuery', 120_000);
    expect(answers.filter((message) => message.name === 'parseComplete')).toHaveLength(4096);
    expect(answers.find((message) => message.name === 'error')).toMatchObject({ code: '54000', message: expect.stringContaining('4096') });
  }, 240_000);
});
