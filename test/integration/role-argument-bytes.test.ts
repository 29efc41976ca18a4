// What the statements of one login role's sessions hold of their calls' arguments, while the calls run or wait for a
// model's slot, is bounded for all of them at once, as what their portals and prepared statements keep is
// (role-kept-bytes.test.ts): a bound per statement is as many bounds as the role may open sessions (review E: 12
// sessions of 4 MiB, 11 waiting for a model, held 71 MB). A proxy of the test's own lets a role hold 3 MiB.

import pg from 'pg';
import { expect, it } from 'vitest';
import { afterThisTest } from '../support/database.js';
import { databaseWithModel, proxyAndFakeProvider } from '../support/models.js';
import { connection, startProxy, type Role, type TestProxy } from '../support/proxy.js';

const MiB = 1024 ** 2;
const shared = proxyAndFakeProvider();

async function client(proxy: TestProxy, database: string, role: Role = 'postgres'): Promise<pg.Client> {
  const session = new pg.Client(connection(proxy.port, role, database));
  await session.connect();
  afterThisTest(() => session.end());
  return session;
}

/** A statement whose one call is given 2 MiB: a projection's row, or a call a collect pass finds (passes.ts). */
const statements = {
  projected: (tag: string) => `SELECT pg_llm_chat('llm', repeat('x', ${2 * MiB}) || '${tag}') AS a`,
  collected: (tag: string) => `SELECT 'ok' AS a WHERE pg_llm_chat('llm', repeat('x', ${2 * MiB}) || '${tag}') = 'ok'`,
};

it.each(Object.entries(statements))("refuses a statement whose arguments would pass what its role's statements hold together, not another role's, and has the room back once they end (%s)", async (_, statement) => {
  const twoMiBCall = (session: pg.Client, tag: string) => session.query(statement(tag));
  const { name } = await databaseWithModel(shared.proxy, shared.fake, 'openai');
  const proxy = await startProxy({ roleBytes: { arguments: 3 * MiB } });
  afterThisTest(() => proxy.stop());
  let release!: () => void;
  shared.fake.script({ kind: 'reply', answer: () => 'ok', hold: new Promise<void>((resolve) => (release = resolve)) });
  const [holder, refused, again] = [await client(proxy, name), await client(proxy, name), await client(proxy, name)];
  const other = await client(proxy, name, 'trust');

  // The holder's call is at the model, its 2 MiB of arguments held: the role has 1 MiB left.
  const held = twoMiBCall(holder, 'holder');
  while (shared.fake.requests.length < 1) await new Promise((resolve) => setTimeout(resolve, 20));
  shared.fake.script({ kind: 'reply', answer: () => 'ok' });
  const error = await twoMiBCall(refused, 'refused').then(() => undefined, (failure: pg.DatabaseError) => failure);
  expect(error).toMatchObject({ code: '54000', message: expect.stringMatching(/login role's statements .* 3 MiB/) });
  expect(error!.hint).toMatch(/role's others/);
  // Another role holds its own 2 MiB beside the holder's.
  await expect(twoMiBCall(other, 'other')).resolves.toMatchObject({ rows: [{ a: 'ok' }] });

  release();
  await held;
  shared.fake.script({ kind: 'reply', answer: () => 'ok' });
  await expect(twoMiBCall(again, 'again')).resolves.toMatchObject({ rows: [{ a: 'ok' }] });
}, 60_000);
