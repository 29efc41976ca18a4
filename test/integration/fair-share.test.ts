// Review 12: one role could take every process-wide model-call slot (calls to a model of its own that never
// answers) or the whole budget of answer bytes being read (large streamed answers held open), and so keep every
// other role's calls waiting for up to an hour, or make them fail with 54000. Each role now has a share of both.
// Two roles on one database: bob (trust_user), whose server stalls, and alice (postgres), whose model answers.

import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configureProviderHttp } from '../../src/providers/http.js';
import { callsWaiting, setProcessCallLimit } from '../../src/providers/limits.js';
import { afterThisTest, freshDatabase } from '../support/database.js';
import { startFakeProvider, type Behaviour, type FakeProvider } from '../support/fake-provider.js';
import { clientOf } from '../support/pg-ai.js';
import { connection, startProxy, type TestProxy } from '../support/proxy.js';

const MiB = 1024 ** 2;
let proxy: TestProxy;
let alicesServer: FakeProvider;
beforeAll(async () => {
  proxy = await startProxy();
  alicesServer = await startFakeProvider();
});
afterAll(async () => {
  await proxy.stop();
  await alicesServer.close();
});

/**
 * A database where alice registered 'a_normal' on her server and bob 'b_slow' on a server of his own, which answers
 * as `bobsServer` scripts; alice's client, and sessions of bob's.
 */
async function twoRoles(...bobsServer: Behaviour[]) {
  const bobs = await startFakeProvider();
  afterThisTest(() => bobs.close());
  bobs.script(...bobsServer);
  const { name } = await freshDatabase();
  const alice = await clientOf(proxy, name);
  await alice.query('CREATE EXTENSION pg_llm');
  await alice.query(`SELECT pg_llm_add_model(false, 'openai_compatible', 'a_normal', NULL, $1)`, [
    JSON.stringify({ model_name: 'gpt-test', base_url: alicesServer.baseUrl, max_retries: 0 }),
  ]);
  const bob = await clientOf(proxy, name, 'trust');
  // Longer than any test: what holds bob's calls up is his server, never a timeout.
  await bob.query(`SELECT pg_llm_add_model(false, 'openai_compatible', 'b_slow', NULL, $1)`, [
    JSON.stringify({ model_name: 'gpt-test', base_url: bobs.baseUrl, max_retries: 0, timeout_ms: 600_000 }),
  ]);
  /** Another session of bob's, as postgres.js (whose queries can be cancelled), ended after the test. */
  const bobSession = () => {
    const sql = postgres({ ...connection(proxy.port, 'trust', name), max: 1, onnotice: () => {} });
    afterThisTest(() => sql.end({ timeout: 5 }));
    return sql;
  };
  return { alice, bobSession, bobsRequests: bobs.requests, bobsServer: bobs.baseUrl };
}

describe("one role's calls to a model that never answers", () => {
  it("hold only its share of the slots: another role's calls go ahead, and its waiting calls leave at cancel", async () => {
    setProcessCallLimit(8, 2);
    afterThisTest(async () => setProcessCallLimit(256));
    const { alice, bobSession, bobsRequests } = await twoRoles(...Array.from({ length: 16 }, () => ({ kind: 'stall' as const })));

    // Sixteen calls at once from one statement: under first come, first served they took all eight slots.
    const many = bobSession()`SELECT pg_llm_chat('b_slow', g::text) FROM generate_series(1, 16) g`;
    const manyOutcome = many.catch((error: unknown) => error);
    await expect.poll(() => bobsRequests.length + callsWaiting()).toBe(16);

    // Hangs (and the test times out) if bob's calls held every slot.
    expect((await alice.query(`SELECT pg_llm_chat('a_normal', 'hi') AS a`)).rows).toEqual([{ a: 'default answer' }]);
    alicesServer.script({ kind: 'stream', chunks: ['hi'] });
    expect((await alice.query(`SELECT count(*)::int AS n FROM pg_llm_chat_stream('a_normal', 'hi')`)).rows).toEqual([{ n: 2 }]);
    expect(bobsRequests).toHaveLength(2);
    expect(callsWaiting()).toBe(14);

    // His share is the role's, not the session's: a stream from another session of his waits too.
    const stream = bobSession()`SELECT * FROM pg_llm_chat_stream('b_slow', 'more')`;
    const streamOutcome = stream.catch((error: unknown) => error);
    await expect.poll(callsWaiting).toBe(15);
    expect(bobsRequests).toHaveLength(2);

    stream.cancel();
    expect(await streamOutcome).toMatchObject({ code: '57014' });
    expect(callsWaiting()).toBe(14);
    many.cancel();
    expect(await manyOutcome).toMatchObject({ code: '57014' });
    expect(callsWaiting()).toBe(0);
    await expect.poll(() => bobsRequests.every((request) => request.aborted)).toBe(true);
    expect(bobsRequests).toHaveLength(2);
  });
});

describe("one login role's calls from several databases and roles", () => {
  it('share one slice of the slots: another database or a SET ROLE gives it no second share', async () => {
    setProcessCallLimit(8, 2);
    afterThisTest(async () => setProcessCallLimit(256));
    const { bobSession, bobsRequests, bobsServer } = await twoRoles(...Array.from({ length: 16 }, () => ({ kind: 'stall' as const })));
    const many = bobSession()`SELECT pg_llm_chat('b_slow', g::text) FROM generate_series(1, 16) g`;
    const manyOutcome = many.catch((error: unknown) => error);
    await expect.poll(() => bobsRequests.length + callsWaiting()).toBe(16);
    expect(bobsRequests).toHaveLength(2);

    // Every role may connect to a new database: a share per database would be a share per CREATE DATABASE.
    const other = await freshDatabase();
    await (await clientOf(proxy, other.name)).query('CREATE EXTENSION pg_llm');
    const member = `member_${other.name}`;
    await other.client.query(`CREATE ROLE ${member} NOLOGIN; GRANT ${member} TO trust_user`);
    afterThisTest(async () => void (await other.client.query(`DROP OWNED BY ${member}; DROP ROLE ${member}`)));
    const session = () => {
      const sql = postgres({ ...connection(proxy.port, 'trust', other.name), max: 1, onnotice: () => {} });
      afterThisTest(() => sql.end({ timeout: 5 }));
      return sql;
    };
    const model = JSON.stringify({ model_name: 'gpt-test', base_url: bobsServer, max_retries: 0, timeout_ms: 600_000 });
    const elsewhere = session();
    await elsewhere`SELECT pg_llm_add_model(false, 'openai_compatible', 'b_slow', NULL, ${model})`;
    const fromElsewhere = elsewhere`SELECT pg_llm_chat('b_slow', 'from another database')`;
    const elsewhereOutcome = fromElsewhere.catch((error: unknown) => error);
    await expect.poll(callsWaiting).toBe(15);

    // Nor does a role the login role may become.
    const asMember = session();
    await asMember.unsafe(`SET ROLE ${member}`);
    await asMember`SELECT pg_llm_add_model(false, 'openai_compatible', 'b_member', NULL, ${model})`;
    const fromMember = asMember`SELECT pg_llm_chat('b_member', 'as a member role')`;
    const memberOutcome = fromMember.catch((error: unknown) => error);
    await expect.poll(callsWaiting).toBe(16);
    expect(bobsRequests).toHaveLength(2);

    many.cancel();
    expect(await manyOutcome).toMatchObject({ code: '57014' });
    // The slots bob's statement held go to his other calls.
    await expect.poll(() => bobsRequests.length).toBe(4);
    fromElsewhere.cancel();
    fromMember.cancel();
    expect(await elsewhereOutcome).toMatchObject({ code: '57014' });
    expect(await memberOutcome).toMatchObject({ code: '57014' });
  });
});

describe("one role's large answers held open", () => {
  it("take at most a quarter of the bytes being read: its next fail with 54000, another role's answer does not", async () => {
    // Slots enough for all of bob's streams: only the bytes are shared here.
    setProcessCallLimit(16, 16);
    afterThisTest(async () => setProcessCallLimit(256));
    // Eight answers of 1 MiB at once in all, two for one role.
    configureProviderHttp({ maxResponseBytes: MiB, maxEmbeddingResponseBytes: MiB });
    afterThisTest(async () => configureProviderHttp({}));
    let finish = (): void => undefined;
    const hold = new Promise<void>((resolve) => (finish = resolve));
    const big = 'b'.repeat(Math.floor(0.95 * MiB));
    const { alice, bobSession } = await twoRoles(...Array.from({ length: 8 }, () => ({ kind: 'stream' as const, chunks: [big], hold })));

    // Each stream's first row is its whole first chunk, read from bob's server; after it the server holds on.
    const streams = Array.from({ length: 8 }, () => {
      const sql = bobSession();
      return new Promise<'streaming' | unknown>((resolve) => {
        sql`SELECT chunk FROM pg_llm_chat_stream('b_slow', 'big')`.forEach(() => resolve('streaming')).then(() => resolve('ended'), resolve);
      });
    });
    afterThisTest(async () => finish());
    const outcomes = await Promise.all(streams);

    alicesServer.script({ kind: 'huge', bytes: MiB / 2 });
    expect((await alice.query(`SELECT length(pg_llm_chat('a_normal', 'hi')) AS n`)).rows).toEqual([{ n: MiB / 2 }]);
    expect(outcomes.filter((outcome) => outcome === 'streaming')).toHaveLength(2);
    for (const failed of outcomes.filter((outcome) => outcome !== 'streaming')) {
      expect(failed).toMatchObject({ code: '54000', message: expect.stringContaining('for this role exceed its share') });
    }
  });
});
