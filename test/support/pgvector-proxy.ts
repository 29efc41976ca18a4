// For the tests of a describe block: the proxy in front of PGlite with pgvector (test/support/pglite-upstream.ts), and
// a client of it as postgres, started before them (slowly: PGlite compiles) and stopped after. PGlite serves one
// connection at a time, so the client is the only one.

import { vector } from '@electric-sql/pglite-pgvector';
import pg from 'pg';
import { afterAll, beforeAll } from 'vitest';
import { startPgliteUpstream, type PgliteUpstream } from './pglite-upstream.js';
import { connection, startProxy, type TestProxy } from './proxy.js';

export function pgvectorProxy(timeoutMs: number): { client: pg.Client } {
  const suite = {} as { client: pg.Client };
  let upstream: PgliteUpstream | undefined;
  let proxy: TestProxy | undefined;
  beforeAll(async () => {
    upstream = await startPgliteUpstream({ vector });
    proxy = await startProxy({ upstream: upstream.target });
    suite.client = new pg.Client(connection(proxy.port));
    await suite.client.connect();
  }, timeoutMs);
  afterAll(async () => {
    await suite.client?.end();
    await proxy?.stop();
    await upstream?.stop();
  });
  return suite;
}
