// The passphrases sessions SET as pg_llm.master_key are derived once (scrypt, one derivation at a time) and kept by
// role: a passphrase another role set lately is derived again in turn, as any other, so no role tells from how soon
// its SET is answered whether it guessed another role's key. Ordering, not time: the guess is sent after four fresh
// passphrases of the same role, which are derived first in the order asked.

import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connection, startProxy, type Role, type TestProxy } from '../support/proxy.js';

let proxy: TestProxy;
beforeAll(async () => {
  proxy = await startProxy();
});
afterAll(() => proxy.stop());

const opened: pg.Client[] = [];
afterAll(() => Promise.all(opened.map((client) => client.end().catch(() => undefined))));

async function session(role: Role): Promise<pg.Client> {
  const client = new pg.Client(connection(proxy.port, role));
  client.on('error', () => undefined);
  await client.connect();
  opened.push(client);
  return client;
}

const setKey = (client: pg.Client, passphrase: string) => client.query(`SET pg_llm.master_key = '${passphrase}'`);

describe("another role's master-key passphrase", () => {
  it('is not confirmed by how soon a SET of the same passphrase is answered', async () => {
    const victim = await session('postgres');
    const secret = `victim passphrase ${randomBytes(6).toString('hex')}`;
    await setKey(victim, secret);

    const attackers = await Promise.all(Array.from({ length: 5 }, () => session('trust')));
    const finished: string[] = [];
    const fresh = attackers.slice(0, 4).map((client, index) => setKey(client, `fresh ${index} ${randomBytes(6).toString('hex')}`).then(() => void finished.push(`fresh ${index}`)));
    const guess = setKey(attackers[4]!, secret).then(() => void finished.push('guess'));
    await Promise.all([...fresh, guess]);
    // Derived in turn after the four sent before it, the guess ends last, as a wrong guess does.
    expect(finished[0]).not.toBe('guess');
  });
});
