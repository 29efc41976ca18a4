// The last statement each session keeps for the admin dashboard: read from the chunk it came in only when the
// dashboard asks, so the pass-through path copies nothing for it; the start of a statement from a big chunk is copied
// at once, so that chunk is not kept alive for it.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startProxy, type TestProxy } from '../support/proxy.js';
import { RawClient, serialize } from '../support/raw-client.js';

let proxy: TestProxy;
beforeAll(async () => {
  proxy = await startProxy();
});
afterAll(() => proxy.stop());

async function lastStatementOf(sql: string) {
  const client = await RawClient.session(proxy.port, { application_name: 'statement-test' });
  try {
    await client.query(sql);
    const [view] = proxy.listener.sessionViews().filter((session) => session.application === 'statement-test');
    return view!.statement!;
  } finally {
    client.end();
    await client.untilClosed();
  }
}

describe("a session's last statement", () => {
  it('of a small chunk is the chunk itself, not a copy', async () => {
    const sql = 'SELECT 1 AS small';
    const statement = await lastStatementOf(sql);
    expect(statement.bytes.toString()).toBe(sql);
    expect(statement.whole).toBe(true);
    // A view of the memory the chunk was read into: the Query's header lies right before the statement there.
    const { buffer, byteOffset } = statement.bytes;
    expect(Buffer.from(buffer, byteOffset - 5, 5)).toEqual(serialize.query(sql).subarray(0, 5));
  });

  it('of a big chunk is its start, copied, so the chunk can go', async () => {
    const sql = `SELECT '${'x'.repeat(40_000)}' AS big`;
    const statement = await lastStatementOf(sql);
    expect(statement.bytes.toString()).toBe(sql.slice(0, 1024));
    expect(statement.whole).toBe(false);
    expect(statement.bytes.buffer.byteLength).toBeLessThan(16 * 1024);
  });
});
