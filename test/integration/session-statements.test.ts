// The last statement each session keeps for the admin dashboard: its start copied into memory of the session's own,
// so no chunk the client's statements came in is kept alive for it, and the memory a read went into can take the next.

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
  it('of a small chunk is a copy in memory of its own, not a view of the chunk', async () => {
    const sql = 'SELECT 1 AS small';
    const statement = await lastStatementOf(sql);
    expect(statement.bytes.toString()).toBe(sql);
    expect(statement.whole).toBe(true);
    expect(statement.bytes.byteOffset).toBe(0);
    expect(statement.bytes.buffer.byteLength).toBeLessThanOrEqual(1024);
  });

  it('stays as it was while later reads go into the memory its chunk came in', async () => {
    const sql = 'SELECT 1 AS first';
    const client = await RawClient.session(proxy.port, { application_name: 'statement-reuse-test' });
    try {
      await client.query(sql);
      // Neither a Query nor a Parse, and as long as the statement's chunk: read where that chunk was.
      for (let i = 0; i < 3; i++) await client.exchange(serialize.describe({ type: 'S', name: 'x'.repeat(sql.length) }), serialize.sync());
      const [view] = proxy.listener.sessionViews().filter((session) => session.application === 'statement-reuse-test');
      expect(view!.statement!.bytes.toString()).toBe(sql);
    } finally {
      client.end();
      await client.untilClosed();
    }
  });

  it('of a big chunk is its start, copied, so the chunk can go', async () => {
    const sql = `SELECT '${'x'.repeat(40_000)}' AS big`;
    const statement = await lastStatementOf(sql);
    expect(statement.bytes.toString()).toBe(sql.slice(0, 1024));
    expect(statement.whole).toBe(false);
    expect(statement.bytes.buffer.byteLength).toBeLessThan(16 * 1024);
  });
});
