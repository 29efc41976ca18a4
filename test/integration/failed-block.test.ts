// LLM statements in a failed transaction block. PostgreSQL refuses every statement there but the ones that leave the
// failure (ROLLBACK, COMMIT, ROLLBACK TO…) with 25P02, before it looks for a function: the proxy leaves that refusal
// to the server, whether the extension is installed or not, and the client gets the very bytes it gets direct.

import { describe, expect, it } from 'vitest';
import { afterThisTest, freshDatabase } from '../support/database.js';
import { databaseWithModel, proxyAndFakeProvider } from '../support/models.js';
import { cluster } from '../support/proxy.js';
import { RawClient, serialize } from '../support/raw-client.js';

const shared = proxyAndFakeProvider();
const CALL = `SELECT pg_llm_chat('llm', 'hello') AS answer`;
/** A call the passes run (not a whole output column). */
const FILTER = `SELECT 1 AS one WHERE pg_llm_chat('llm', 'hello') IS NOT NULL`;

function extended(sql: string): Buffer[] {
  return [serialize.parse({ text: sql, types: [] }), serialize.bind({}), serialize.describe({ type: 'P' }), serialize.execute({}), serialize.sync()];
}

/**
 * How a session answers LLM statements in a failed block, each as the bytes received: a Query, a DECLARE, an
 * extended-protocol statement, and (`bound`) the Execute of a portal bound before the block failed. Then the
 * SQLSTATE of a Query that leaves the failure first and runs a call after it, as PostgreSQL runs it.
 */
async function failedBlockAnswers(port: number, database: string, bound: boolean): Promise<{ refused: Buffer[]; afterRollbackTo: string }> {
  const raw = await RawClient.session(port, { database });
  afterThisTest(async () => raw.end());
  // Outside the block: through the proxy, this is where it learns whether the extension is installed.
  await raw.exchange(serialize.parse({ name: 'call', text: CALL, types: [] }), serialize.sync());
  await raw.query('BEGIN');
  if (bound) await raw.exchange(serialize.bind({ portal: 'bound', statement: 'call' }), serialize.sync());
  await raw.query('SAVEPOINT s');
  await raw.query('SELECT 1/0');
  const refused = [
    await raw.exchange(serialize.query(CALL)),
    await raw.exchange(serialize.query(`DECLARE c CURSOR FOR ${CALL}`)),
    await raw.exchange(...extended(FILTER)),
    await raw.exchange(...extended(CALL)),
    ...(bound ? [await raw.exchange(serialize.execute({ portal: 'bound' }), serialize.sync())] : []),
  ];
  const left = await raw.query(`ROLLBACK TO SAVEPOINT s; ${FILTER}`);
  const error = left.find((message) => message.name === 'error') as unknown as { code: string } | undefined;
  await raw.query('ROLLBACK');
  return { refused, afterRollbackTo: error?.code ?? 'ok' };
}

describe('an LLM statement in a failed transaction block', () => {
  it('is refused by the server with 25P02, as direct, when the extension is installed', async () => {
    const { name } = await databaseWithModel(shared.proxy, shared.fake, 'openai');
    const direct = await failedBlockAnswers(cluster().port, name, true);
    expect(direct.refused[0]!.toString('latin1')).toContain('25P02');
    const proxied = await failedBlockAnswers(shared.proxy.port, name, true);
    expect(proxied.refused).toEqual(direct.refused);
    expect(proxied.afterRollbackTo).toBe('ok');
    expect(shared.fake.requests).toHaveLength(1);
  });

  it('is refused by the server with 25P02, as direct, when it is not: not told the extension is missing', async () => {
    const { name } = await freshDatabase();
    const direct = await failedBlockAnswers(cluster().port, name, false);
    const proxied = await failedBlockAnswers(shared.proxy.port, name, false);
    expect(proxied.refused).toEqual(direct.refused);
    // Once the failure is left, the call finds no function, and the proxy says why.
    expect(proxied.afterRollbackTo).toBe('42883');
  });
});
