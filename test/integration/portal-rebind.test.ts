// A Bind naming a portal that exists is PostgreSQL's to refuse (42P03), and the portal it names stays as it was:
// bound to its statement, with its parameters. The proxy keeps what it knew of that portal until the server has
// taken the Bind, so that after a ROLLBACK TO (which keeps portals bound before the savepoint) an Execute runs the
// portal the server has, not the one it refused.

import { describe, expect, it } from 'vitest';
import { afterThisTest } from '../support/database.js';
import { databaseWithModel, proxyAndFakeProvider } from '../support/models.js';
import { RawClient, serialize } from '../support/raw-client.js';

const shared = proxyAndFakeProvider();

/** A raw session in a block, with portal "kept" bound to a model call on 'first', and a savepoint after it. */
async function portalBeforeSavepoint(): Promise<RawClient> {
  const { name } = await databaseWithModel(shared.proxy, shared.fake, 'openai');
  const raw = await RawClient.session(shared.proxy.port, { database: name });
  afterThisTest(async () => void raw.socket.destroy());
  await raw.query('BEGIN');
  raw.send(
    serialize.parse({ name: 'llm', text: `SELECT pg_llm_chat('llm', $1) AS a`, types: [] }),
    serialize.parse({ name: 'plain', text: `SELECT $1::text AS a`, types: [] }),
    serialize.bind({ portal: 'kept', statement: 'llm', values: ['first'] }),
    serialize.sync(),
  );
  await raw.until('readyForQuery');
  await raw.query('SAVEPOINT s');
  return raw;
}

function codeOf(messages: Array<{ name: string }>): string | undefined {
  return (messages.find((message) => message.name === 'error') as unknown as { code: string } | undefined)?.code;
}

/** Executes "kept" after leaving the failure the refused Bind made: the rows, and the prompts the model was sent. */
async function executeAfterRollbackTo(raw: RawClient): Promise<{ rows: string[]; prompts: string[] }> {
  await raw.query('ROLLBACK TO SAVEPOINT s');
  const before = shared.fake.requests.length;
  shared.fake.script({ kind: 'answer', content: 'answered' });
  raw.send(serialize.execute({ portal: 'kept' }), serialize.sync());
  const answer = await raw.until('readyForQuery', 20_000);
  expect(codeOf(answer)).toBeUndefined();
  const rows = answer.filter((message) => message.name === 'dataRow').map((message) => (message as unknown as { fields: string[] }).fields[0]!);
  const prompts = shared.fake.requests.slice(before).map((request) => JSON.stringify(request.body));
  return { rows, prompts };
}

describe('a Bind over a portal that exists', () => {
  it.each([
    ['an LLM statement', 'llm'],
    ['a plain statement', 'plain'],
  ])('of %s is refused with 42P03, and the portal calls the model with the parameters it was bound with', async (_, statement) => {
    const raw = await portalBeforeSavepoint();
    raw.send(serialize.bind({ portal: 'kept', statement, values: ['second'] }), serialize.sync());
    const refused = await raw.until('readyForQuery');
    expect(codeOf(refused)).toBe('42P03');
    const { rows, prompts } = await executeAfterRollbackTo(raw);
    expect(rows).toEqual(['answered']);
    expect(prompts).toHaveLength(1);
    expect(prompts[0]).toContain('first');
    expect(prompts[0]).not.toContain('second');
  });

  it('that the server takes (the old portal closed) is the portal from then on', async () => {
    const raw = await portalBeforeSavepoint();
    raw.send(
      serialize.close({ type: 'P', name: 'kept' }),
      serialize.bind({ portal: 'kept', statement: 'plain', values: ['second'] }),
      serialize.execute({ portal: 'kept' }),
      serialize.sync(),
    );
    const rebound = await raw.until('readyForQuery');
    expect(codeOf(rebound)).toBeUndefined();
    expect(rebound.filter((message) => message.name === 'dataRow').map((message) => (message as unknown as { fields: string[] }).fields[0])).toEqual(['second']);
  });
});
