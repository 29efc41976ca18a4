// The admin HTTP server: liveness, readiness (the upstream answers), Prometheus metrics and the operator's dashboard
// (a page at / polling /api/overview). Loopback by default; beyond it only with a token (src/admin/access.ts).
// Read-only; it never shows prompts, answers, credentials, or the values in query text (src/admin/shown-statement.ts).

import Fastify, { type FastifyInstance } from 'fastify';
import { Registry } from 'prom-client';
import { listenError } from '../proxy/listen-error.js';
import { ownPort } from '../proxy/own-ports.js';
import type { SessionView } from '../proxy/listener.js';
import type { ProxyStats } from '../proxy/stats.js';
import { probeUpstream, type UpstreamTarget } from '../proxy/upstream.js';
import { requireLoopbackHost, requireToken } from './admin/access.js';
import { overview } from './admin/overview.js';
import { PAGE_HEADERS, pageFiles } from './admin/page.js';
import { callsWaiting } from './providers/limits.js';
import { responseCacheStats } from './providers/response-cache.js';
import { collectRuntimeMetrics, processRegistry, readCounter, readGauge } from './metrics.js';

const READINESS_TIMEOUT_MS = 2000;

export interface AdminSources {
  stats: ProxyStats;
  upstream: () => UpstreamTarget;
  sessions: () => SessionView[];
  startedAt: number;
}

/** `token`: what every path but /healthz and /readyz then asks for (--admin-token). */
export async function startAdminServer(host: string, port: number, sources: AdminSources, token?: string): Promise<FastifyInstance> {
  // At shutdown, keep-alive connections (a scraper's, say) are closed rather than waited for. No logger: a request's
  // URL may hold the token.
  const app = Fastify({ logger: false, forceCloseConnections: true });
  if (token !== undefined) requireToken(app, token);
  else requireLoopbackHost(app);
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => {
    const reachable = await probeUpstream(sources.upstream(), READINESS_TIMEOUT_MS);
    return reply.code(reachable ? 200 : 503).send({ status: reachable ? 'ready' : 'upstream unreachable' });
  });
  collectRuntimeMetrics();
  const listenerMetrics = listenerRegistry(sources);
  app.get('/metrics', async (_request, reply) =>
    reply.type(processRegistry.contentType).send(`${await listenerMetrics.metrics()}\n${await processRegistry.metrics()}`),
  );
  for (const [url, { type, body }] of pageFiles()) app.get(url, async (_request, reply) => reply.headers(PAGE_HEADERS).type(type).send(body));
  app.get('/api/overview', async (_request, reply) => reply.header('cache-control', 'no-store').send(overview(sources)));
  try {
    await app.listen({ host, port });
  } catch (error) {
    throw listenError(error, { host, port });
  }
  ownPort(app.server);
  return app;
}

/** The families of one listener and of the process's caches and limits, read when scraped. */
function listenerRegistry({ stats, startedAt }: AdminSources): Registry {
  const registry = new Registry();
  const counter = (name: string, help: string, read: () => number): void => readCounter(registry, name, help, read);
  const gauge = (name: string, help: string, read: () => number): void => readGauge(registry, name, help, read);
  gauge('pg_llm_proxy_connections_open', 'Client sessions currently open.', () => stats.connectionsOpen);
  counter('pg_llm_proxy_connections_total', 'Client sessions started.', () => stats.connectionsTotal);
  counter('pg_llm_proxy_connections_rejected_total', 'Connections refused during startup.', () => stats.connectionsRejected);
  counter('pg_llm_proxy_client_bytes_received_total', 'Bytes received from clients.', () => stats.bytesFromClients);
  counter('pg_llm_proxy_client_bytes_sent_total', 'Bytes sent to clients.', () => stats.bytesToClients);
  counter('pg_llm_proxy_queries_forwarded_total', 'Query and Execute messages forwarded upstream.', () => stats.queriesForwarded);
  counter(
    'pg_llm_proxy_upstream_errors_total',
    'Upstream connections that failed: could not be opened, or were closed by the upstream without a word.',
    () => stats.upstreamConnectionFailures,
  );
  counter('pg_llm_proxy_upstream_sql_errors_total', "ErrorResponses the upstream sent: clients' SQL errors and refused logins.", () => stats.upstreamSqlErrors);
  counter('pg_llm_proxy_errors_total', 'Errors raised by the proxy itself.', () => stats.proxyErrors);
  counter('pg_llm_proxy_cancel_requests_total', 'Cancel requests forwarded upstream.', () => stats.cancelRequests);
  gauge('pg_llm_proxy_uptime_seconds', 'Seconds since the proxy started.', () => Math.round((Date.now() - startedAt) / 1000));
  gauge('pg_llm_proxy_resident_memory_bytes', 'Resident set size of the proxy process.', () => process.memoryUsage.rss());
  counter('pg_llm_response_cache_hits_total', 'Answers served from the response cache.', () => responseCacheStats().hits);
  counter('pg_llm_response_cache_misses_total', 'Cacheable requests that went to the provider.', () => responseCacheStats().misses);
  counter('pg_llm_response_cache_evictions_total', 'Cached answers dropped to stay within --response-cache-entries and --response-cache-bytes.', () => responseCacheStats().evictions);
  gauge('pg_llm_response_cache_entries', 'Answers in the response cache.', () => responseCacheStats().entries);
  gauge('pg_llm_response_cache_bytes', 'Bytes the response cache holds, as counted against --response-cache-bytes.', () => responseCacheStats().bytes);
  counter('pg_llm_proxy_auth_lookups_total', "Auth queries run to look up a role's SCRAM secret.", () => stats.authLookups);
  gauge('pg_llm_model_calls_waiting', 'Model calls waiting for one of the --max-model-calls slots.', () => callsWaiting());
  return registry;
}
