// What the sessions of one login role make the proxy keep together: the Bind parameters of their portals of LLM
// statements, and the text their prepared LLM statements keep, are bounded for all of them at once, not per session,
// since a role may open as many sessions as the server lets it (review 21: three sessions of one role, each in a
// block with a 200 MiB portal open, kept 600 MiB under a bound of 256 MiB a session; likewise 64 MiB of statements a
// session). Each test has a proxy of its own with bounds of a few MiB, which keeps the point at little cost; the room
// must come back however what took it is dropped, and however the sessions end, or the role would be locked out.

import { describe, expect, it } from 'vitest';
import { ROLES } from '../support/cluster.js';
import { afterThisTest } from '../support/database.js';
import { databaseWithModel, proxyAndFakeProvider } from '../support/models.js';
import { startProxy, type TestProxy } from '../support/proxy.js';
import { RawClient, serialize } from '../support/raw-client.js';

const MiB = 1024 ** 2;
const shared = proxyAndFakeProvider();

type Answer = { name: string; code?: string; message?: string; hint?: string };

/**
 * A database with the model "llm", and a proxy of the test's own whose login roles may keep 4 MiB of parameters and
 * 48 KiB of statements' plans.
 */
async function setup(): Promise<{ name: string; proxy: TestProxy }> {
  const { name } = await databaseWithModel(shared.proxy, shared.fake, 'openai');
  const proxy = await startProxy({ roleBytes: { portals: 4 * MiB, statements: 48 * 1024 } });
  afterThisTest(() => proxy.stop());
  return { name, proxy };
}

/** A raw session of `user` on `database` with statement "s" calling the model prepared, inside a block when `block`. */
async function session({ name: database, proxy }: { name: string; proxy: TestProxy }, { user = 'postgres', block = true } = {}): Promise<RawClient> {
  const raw = await RawClient.session(proxy.port, { database, user });
  afterThisTest(async () => void raw.socket.destroy());
  if (block) await raw.query('BEGIN');
  raw.send(serialize.parse({ name: 's', text: `SELECT pg_llm_chat('llm', $1) AS a`, types: [] }), serialize.sync());
  await raw.until('readyForQuery');
  return raw;
}

/** Binds portal `portal` of "s" with a parameter of `bytes`: the error answering it, if any. */
async function bind(raw: RawClient, portal: string, bytes: number): Promise<Answer | undefined> {
  raw.send(serialize.bind({ portal, statement: 's', values: ['v'.repeat(bytes)] }), serialize.sync());
  return (await raw.until('readyForQuery', 30_000)).find((message) => message.name === 'error') as Answer | undefined;
}

describe("the portals of one login role's sessions", () => {
  it('keep no more parameters together than the bound, which another role has for itself', async () => {
    const test = await setup();
    const sessions = [await session(test), await session(test), await session(test)];
    expect(await bind(sessions[0]!, 'p', 1.5 * MiB)).toBeUndefined();
    expect(await bind(sessions[1]!, 'p', 1.5 * MiB)).toBeUndefined();
    // A third 1.5 MiB would make 4.5 MiB for the role, though each session keeps far less than 4 MiB.
    const refused = await bind(sessions[2]!, 'p', 1.5 * MiB);
    expect(refused).toMatchObject({ code: '54000', message: expect.stringMatching(/login role's sessions .* 4 MiB/) });
    expect(refused!.hint).toMatch(/role's others/);
    const other = await session(test, { user: ROLES.trust.user });
    expect(await bind(other, 'p', 3 * MiB)).toBeUndefined();
  }, 60_000);

  it('give their room back to the role when their transaction ends, with nothing more sent in their session', async () => {
    const test = await setup();
    const [holder, asker] = [await session(test), await session(test, { block: false })];
    expect(await bind(holder, 'p', 3 * MiB)).toBeUndefined();
    expect(await bind(asker, 'p', 3 * MiB)).toMatchObject({ code: '54000' });
    await holder.query('COMMIT');
    expect(await bind(asker, 'p', 3 * MiB)).toBeUndefined();
  }, 60_000);

  it('give their room back when closed, and keep it once when the unnamed one is bound again', async () => {
    const test = await setup();
    const [holder, asker] = [await session(test), await session(test, { block: false })];
    expect(await bind(holder, '', 3 * MiB)).toBeUndefined();
    expect(await bind(holder, '', 3 * MiB)).toBeUndefined();
    expect(await bind(asker, 'p', 3 * MiB)).toMatchObject({ code: '54000' });
    holder.send(serialize.close({ type: 'P', name: '' }), serialize.sync());
    await holder.until('readyForQuery');
    expect(await bind(asker, 'p', 3 * MiB)).toBeUndefined();
  }, 60_000);

  it.each([
    ['a Terminate', (raw: RawClient) => raw.send(serialize.end())],
    ['its socket destroyed', (raw: RawClient) => raw.socket.destroy()],
  ])('give their room back to the role when their session ends with %s', async (_how, end) => {
    const test = await setup();
    const [holder, asker] = [await session(test), await session(test, { block: false })];
    expect(await bind(holder, 'p', 3 * MiB)).toBeUndefined();
    expect(await bind(asker, 'p', 3 * MiB)).toMatchObject({ code: '54000' });
    end(holder);
    // The proxy learns of the end as the socket closes: until then the asker is refused, the session still usable.
    await expect.poll(async () => (await bind(asker, 'p', 3 * MiB))?.code).toBeUndefined();
  }, 60_000);
});

describe("the prepared LLM statements of one login role's sessions", () => {
  /**
   * A plan keeps about twice its text: 30 kB, so that one fits in the bound of 48 KiB and two do not (and the text is
   * parsed at once, under 16 KiB, not in the parser's thread).
   */
  const big = `SELECT pg_llm_chat('llm', 'hi') AS a /* ${'x'.repeat(15_000)} */`;

  /** Sends `messages` and a Sync: the error answering them, if any. */
  async function error(raw: RawClient, ...messages: Buffer[]): Promise<Answer | undefined> {
    raw.send(...messages, serialize.sync());
    return (await raw.until('readyForQuery', 30_000)).find((message) => message.name === 'error') as Answer | undefined;
  }

  const prepare = (raw: RawClient, name: string, text = big) => error(raw, serialize.parse({ name, text, types: [] }));
  const close = (raw: RawClient, name: string) => error(raw, serialize.close({ type: 'S', name }));

  it('keep no more text together than the bound, which another role has for itself', async () => {
    const test = await setup();
    const [first, second] = [await session(test, { block: false }), await session(test, { block: false })];
    expect(await prepare(first, 'big')).toBeUndefined();
    const refused = await prepare(second, 'big');
    expect(refused).toMatchObject({ code: '54000', message: expect.stringMatching(/login role's sessions .* MiB of SQL text, the bound for all/) });
    expect(refused!.hint).toMatch(/role's others/);
    const other = await session(test, { user: ROLES.trust.user, block: false });
    expect(await prepare(other, 'big')).toBeUndefined();
  }, 60_000);

  it('give their room back however they are dropped, and keep it once when the server refuses to replace them', async () => {
    const test = await setup();
    const [holder, asker] = [await session(test, { block: false }), await session(test, { block: false })];
    const roomIsBack = async () => {
      expect(await prepare(asker, 'probe')).toBeUndefined();
      expect(await close(asker, 'probe')).toBeUndefined();
    };
    expect(await prepare(holder, 'closed')).toBeUndefined();
    expect(await close(holder, 'closed')).toBeUndefined();
    await roomIsBack();
    for (const drop of ['DEALLOCATE dropped', 'DISCARD ALL']) {
      expect(await prepare(holder, 'dropped')).toBeUndefined();
      await holder.query(drop);
      await roomIsBack();
    }
    // The unnamed statement, redefined again and again, then by one that calls no model.
    for (let i = 0; i < 3; i++) expect(await prepare(holder, '')).toBeUndefined();
    expect(await prepare(asker, 'probe')).toMatchObject({ code: '54000' });
    expect(await prepare(holder, '', 'SELECT 1')).toBeUndefined();
    await roomIsBack();
    // A Parse the server skips after an earlier error leaves the unnamed statement as it was.
    expect(await prepare(holder, '')).toBeUndefined();
    expect(await error(holder, serialize.bind({ statement: 'missing' }), serialize.parse({ name: '', text: big, types: [] }))).toMatchObject({ code: '26000' });
    expect(await prepare(holder, '', 'SELECT 1')).toBeUndefined();
    await roomIsBack();
    // Redefined under its name: the server refuses (42P05), or the proxy does when the role has no room left.
    expect(await prepare(holder, 'kept')).toBeUndefined();
    expect(await prepare(holder, 'kept')).toMatchObject({ code: '42P05' });
    expect(await close(holder, 'kept')).toBeUndefined();
    await roomIsBack();
    expect(await prepare(holder, 'kept', `SELECT pg_llm_chat('llm', 'small') AS a`)).toBeUndefined();
    expect(await prepare(asker, 'probe')).toBeUndefined();
    expect(await prepare(holder, 'kept')).toMatchObject({ code: '54000' });
    expect(await close(asker, 'probe')).toBeUndefined();
    await roomIsBack();
  }, 60_000);

  it('give their room back to the role when their session ends with its socket destroyed', async () => {
    const test = await setup();
    const [holder, asker] = [await session(test, { block: false }), await session(test, { block: false })];
    expect(await prepare(holder, 'big')).toBeUndefined();
    expect(await prepare(asker, 'big')).toMatchObject({ code: '54000' });
    holder.socket.destroy();
    await expect.poll(async () => (await prepare(asker, 'big'))?.code).toBeUndefined();
  }, 60_000);
});
