// Prepared statements and portals are one object to PostgreSQL when their names share the first 63 bytes, and it
// keeps no more of a name. The proxy keys what it keeps of them the same way, and counts and bounds the ones it
// answers itself (CREATE EXTENSION pg_llm) as it does those calling LLM functions (issue 12: 400 Parses with 1 MB
// names kept 400 MB, and 200k such Parses were all kept; names that differ past byte 63 were two statements to the
// proxy and one to the server).

import { describe, expect, it } from 'vitest';
import { parse } from '../../proxy/frontend-write.js';
import { afterThisTest } from '../support/database.js';
import { heldLive } from '../support/held-memory.js';
import { databaseWithModel, proxyAndFakeProvider } from '../support/models.js';
import { RawClient, serialize } from '../support/raw-client.js';

const shared = proxyAndFakeProvider();
const MiB = 1024 ** 2;
const LLM_STATEMENT = `SELECT pg_llm_chat('llm', $1) AS a`;
const OWN_STATEMENT = 'CREATE EXTENSION IF NOT EXISTS pg_llm';

type Answer = { name: string; code?: string; message?: string; fields?: string[] };

async function session(): Promise<RawClient> {
  const { name } = await databaseWithModel(shared.proxy, shared.fake, 'openai');
  const raw = await RawClient.session(shared.proxy.port, { database: name });
  afterThisTest(async () => void raw.socket.destroy());
  return raw;
}

async function synced(raw: RawClient, ...messages: Buffer[]): Promise<Answer[]> {
  raw.send(...messages, serialize.sync());
  return (await raw.until('readyForQuery', 120_000)) as Answer[];
}

const names = (answers: Answer[]): string[] => answers.map((answer) => answer.name);

describe('a prepared statement of a long name', () => {
  it('is the one its first 63 bytes name, as on the server: the proxy runs its calls', async () => {
    const raw = await session();
    const long = `s${'n'.repeat(99)}`;
    expect(names(await synced(raw, parse(long, LLM_STATEMENT)))).toEqual(['parseComplete', 'readyForQuery']);
    const run = await synced(raw, serialize.bind({ statement: long.slice(0, 63), portal: `p${'q'.repeat(99)}`, values: ['hi'] }), serialize.execute({ portal: `p${'q'.repeat(62)}` }));
    expect(run.find((answer) => answer.name === 'error')).toBeUndefined();
    expect(run.find((answer) => answer.name === 'dataRow')?.fields).toEqual(['default answer']);
  });

  it.each([
    ['calling LLM functions', LLM_STATEMENT],
    ['the proxy answers itself', OWN_STATEMENT],
  ])('%s is kept by the 63 bytes of its name the server keeps, not by a 4 MB name', async (_kind, text) => {
    const raw = await session();
    const before = heldLive();
    for (let i = 0; i < 24; i++) {
      const answer = await synced(raw, parse(`s${i}_${'n'.repeat(4 * MiB)}`, text));
      expect(names(answer)).toEqual(['parseComplete', 'readyForQuery']);
    }
    // 96 MB of names were sent.
    expect(heldLive() - before).toBeLessThan(8 * MiB);
  }, 120_000);
});

describe('statements the proxy answers itself (CREATE EXTENSION pg_llm)', () => {
  it('are refused past 4096 in a session with 54000, as those calling LLM functions are', async () => {
    const raw = await session();
    const answers = await synced(raw, ...Array.from({ length: 4097 }, (_, i) => serialize.parse({ name: `e${i}`, text: OWN_STATEMENT, types: [] })));
    expect(answers.filter((answer) => answer.name === 'parseComplete')).toHaveLength(4096);
    expect(answers.find((answer) => answer.name === 'error')).toMatchObject({ code: '54000', message: expect.stringContaining('4096') });
    // Closed, they leave room.
    expect(names(await synced(raw, serialize.close({ type: 'S', name: 'e0' }), serialize.parse({ name: 'again', text: OWN_STATEMENT, types: [] })))).toEqual(['closeComplete', 'parseComplete', 'readyForQuery']);
  }, 120_000);

  it('have portals bounded as those of LLM statements, and forgotten when their transaction ends, as the server drops them', async () => {
    const raw = await session();
    await synced(raw, serialize.parse({ name: 'e', text: OWN_STATEMENT, types: [] }));
    const binds = (from: number) => Array.from({ length: 256 }, (_, i) => serialize.bind({ statement: 'e', portal: `p${from + i}` }));
    // In one transaction block, the 257th portal is one too many.
    await raw.query('BEGIN');
    const block = await synced(raw, ...binds(0), serialize.bind({ statement: 'e', portal: 'one_more' }));
    expect(block.filter((answer) => answer.name === 'bindComplete')).toHaveLength(256);
    expect(block.find((answer) => answer.name === 'error')).toMatchObject({ code: '54000', message: expect.stringContaining('256') });
    await raw.query('ROLLBACK');
    // Ended with it, they leave room for as many again.
    const again = await synced(raw, ...binds(256), serialize.execute({ portal: 'p511' }));
    expect(again.find((answer) => answer.name === 'error')).toBeUndefined();
    expect(again.filter((answer) => answer.name === 'bindComplete')).toHaveLength(256);
    expect(again.some((answer) => answer.name === 'commandComplete')).toBe(true);
  }, 120_000);
});
