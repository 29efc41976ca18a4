// The admin HTTP server: liveness, readiness that follows the upstream, and Prometheus counters that move.

import http from 'node:http';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageVersion } from '../../src/package-root.js';
import { startTestAdmin } from '../support/admin.js';
import { freePort } from '../support/cluster.js';
import { startProxy, upstreamTarget, type TestProxy } from '../support/proxy.js';
import { psql } from '../support/psql.js';

let proxy: TestProxy;
let admin: FastifyInstance;
let base: string;
let upstreamPort: number;
beforeAll(async () => {
  proxy = await startProxy();
  upstreamPort = proxy.options.target.port;
  ({ app: admin, base } = await startTestAdmin(proxy, { upstream: () => upstreamTarget({ port: upstreamPort }) }));
});
afterAll(async () => {
  await admin.close();
  await proxy.stop();
});

describe('admin HTTP', () => {
  it('/healthz says the process is alive', async () => {
    const response = await fetch(`${base}/healthz`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: 'ok' });
  });

  it('/readyz follows the upstream: 200 when it answers, 503 when it does not', async () => {
    expect((await fetch(`${base}/readyz`)).status).toBe(200);
    const live = upstreamPort;
    upstreamPort = await freePort();
    const down = await fetch(`${base}/readyz`);
    expect(down.status).toBe(503);
    expect(await down.json()).toEqual({ status: 'upstream unreachable' });
    upstreamPort = live;
  });

  it('/metrics exposes Prometheus counters that follow the traffic', async () => {
    const before = await read(base);
    await psql(['-c', 'SELECT 1', '-c', 'SELECT 1/0'], { port: proxy.port });
    await expect.poll(() => proxy.listener.stats.connectionsOpen).toBe(0); // psql does not wait for the close
    const after = await read(base);
    expect(after.get('pg_llm_proxy_connections_total')! - before.get('pg_llm_proxy_connections_total')!).toBe(1);
    expect(after.get('pg_llm_proxy_queries_forwarded_total')! - before.get('pg_llm_proxy_queries_forwarded_total')!).toBe(2);
    expect(after.get('pg_llm_proxy_upstream_sql_errors_total')! - before.get('pg_llm_proxy_upstream_sql_errors_total')!).toBe(1);
    expect(after.get('pg_llm_proxy_upstream_errors_total')).toBe(before.get('pg_llm_proxy_upstream_errors_total'));
    expect(after.get('pg_llm_proxy_client_bytes_sent_total')!).toBeGreaterThan(before.get('pg_llm_proxy_client_bytes_sent_total')!);
    expect(after.get('pg_llm_proxy_client_bytes_received_total')!).toBeGreaterThan(before.get('pg_llm_proxy_client_bytes_received_total')!);
    expect(after.get('pg_llm_proxy_connections_open')).toBe(0);
  });

  it('/metrics counts upstream connections that fail as upstream errors', async () => {
    const unreachable = await startProxy({ upstream: { port: await freePort() }, passThrough: true });
    const unreachableAdmin = await startTestAdmin(unreachable);
    try {
      await psql(['-c', 'SELECT 1'], { port: unreachable.port }).catch(() => undefined);
      const values = await read(unreachableAdmin.base);
      expect(values.get('pg_llm_proxy_upstream_errors_total')).toBe(1);
      expect(values.get('pg_llm_proxy_upstream_sql_errors_total')).toBe(0);
    } finally {
      await unreachableAdmin.app.close();
      await unreachable.stop();
    }
  });

  it('without a token answers only requests addressed to a loopback name, the probes aside', async () => {
    const status = (path: string, host: string) =>
      new Promise<number>((resolve, reject) =>
        http.get(`${base}${path}`, { headers: { host } }, (response) => resolve(response.resume().statusCode!)).on('error', reject),
      );
    const port = new URL(base).port;
    for (const host of [`attacker.example:${port}`, 'attacker.example', `10.0.0.1:${port}`]) {
      expect(await status('/api/overview', host), host).toBe(421);
      expect(await status('/metrics', host), host).toBe(421);
      expect(await status('/healthz', host), host).toBe(200);
    }
    for (const host of [`localhost:${port}`, `127.0.0.1:${port}`, `[::1]:${port}`, 'localhost']) expect(await status('/api/overview', host), host).toBe(200);
  });

  it('/metrics has the process and Node.js runtime metrics and the build info', async () => {
    const text = await (await fetch(`${base}/metrics`)).text();
    for (const name of ['process_cpu_seconds_total', 'process_resident_memory_bytes', 'nodejs_eventloop_lag_seconds', 'nodejs_heap_size_used_bytes']) {
      expect(text).toMatch(new RegExp(`^${name} \\d`, 'm'));
    }
    expect(text).toContain(`pg_llm_proxy_build_info{version="${packageVersion()}",node_version="${process.version}"} 1`);
  });
});

describe('admin HTTP with --admin-token', () => {
  const token = 'admin-token-0123456789';
  let guarded: FastifyInstance;
  let at: string;
  beforeAll(async () => {
    ({ app: guarded, base: at } = await startTestAdmin(proxy, { upstream: () => upstreamTarget({ port: upstreamPort }), token }));
  });
  afterAll(() => guarded.close());

  it('leaves the probes open and asks every other path for the token, as a bearer', async () => {
    expect((await fetch(`${at}/healthz`)).status).toBe(200);
    expect((await fetch(`${at}/readyz`)).status).toBe(200);
    for (const path of ['/', '/metrics', '/api/overview', '/dashboard.js', '/nothing-here', '/healthz/']) {
      const refused = await fetch(`${at}${path}`);
      expect(refused.status, path).toBe(401);
      expect(refused.headers.get('www-authenticate')).toBe('Bearer realm="pg_llm admin"');
      expect(await refused.text()).not.toContain(token);
      expect((await fetch(`${at}${path}`, { headers: { authorization: `Bearer ${token}x` } })).status).toBe(401);
      expect((await fetch(`${at}${path}`, { headers: { authorization: token } })).status).toBe(401);
    }
    const metrics = await fetch(`${at}/metrics`, { headers: { authorization: `Bearer ${token}` } });
    expect(metrics.status).toBe(200);
    expect(await metrics.text()).toContain('pg_llm_proxy_connections_open');
    expect((await fetch(`${at}/api/overview`, { headers: { authorization: `bearer ${token}` } })).status).toBe(200);
  });

  it('takes the token once from /?token=, answering with a cookie that is not the token and an address without it', async () => {
    expect((await fetch(`${at}/?token=wrong-token-0123456789`, { redirect: 'manual' })).status).toBe(401);
    expect((await fetch(`${at}/api/overview?token=${token}`, { redirect: 'manual' })).status).toBe(401);
    const opened = await fetch(`${at}/?token=${token}`, { redirect: 'manual' });
    expect(opened.status).toBe(303);
    expect(opened.headers.get('location')).toBe('./');
    const cookie = opened.headers.get('set-cookie')!;
    expect(cookie).toMatch(/^pg_llm_admin=[\w-]{43}; Path=\/; HttpOnly; SameSite=Strict$/);
    expect(cookie).not.toContain(token);
    const pair = cookie.split(';')[0]!;
    const page = await fetch(`${at}/`, { headers: { cookie: `other=1; ${pair}` } });
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<title>pg_llm proxy</title>');
    expect((await fetch(`${at}/api/overview`, { headers: { cookie: pair } })).status).toBe(200);
    const altered = `${pair.slice(0, -1)}${pair.endsWith('A') ? 'B' : 'A'}`;
    expect((await fetch(`${at}/api/overview`, { headers: { cookie: altered } })).status).toBe(401);
  });
});

async function read(base: string): Promise<Map<string, number>> {
  const response = await fetch(`${base}/metrics`);
  expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  const values = new Map<string, number>();
  for (const line of (await response.text()).split('\n')) {
    const match = /^(pg_llm_proxy_\w+) (\d+(?:\.\d+)?)$/.exec(line);
    if (match) values.set(match[1]!, Number(match[2]));
  }
  return values;
}
