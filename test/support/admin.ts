// An admin server on a free loopback port that reports on a test proxy, wired as main.ts wires the proxy's own.

import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll } from 'vitest';
import { startAdminServer } from '../../src/admin.js';
import type { UpstreamTarget } from '../../proxy/upstream.js';
import { freePort } from './cluster.js';
import type { TestProxy } from './proxy.js';

export async function startTestAdmin(
  proxy: TestProxy,
  options: { upstream?: () => UpstreamTarget; token?: string } = {},
): Promise<{ app: FastifyInstance; base: string }> {
  const port = await freePort();
  const sources = {
    stats: proxy.listener.stats,
    upstream: options.upstream ?? (() => proxy.options.target),
    sessions: () => proxy.listener.sessionViews(),
    startedAt: Date.now(),
  };
  return { app: await startAdminServer('127.0.0.1', port, sources, options.token), base: `http://127.0.0.1:${port}` };
}

/** An admin server on the file's proxy (given once it has started) for the tests of a file: its base URL once up. */
export function testAdminOfFile(proxy: () => TestProxy): { base: string } {
  const shared = { base: '' };
  let app: FastifyInstance | undefined;
  beforeAll(async () => {
    ({ app, base: shared.base } = await startTestAdmin(proxy()));
  });
  afterAll(() => app?.close());
  return shared;
}
