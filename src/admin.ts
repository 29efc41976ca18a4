// The admin HTTP server: liveness, readiness (the upstream answers) and Prometheus metrics. Loopback by default;
// it exposes counters only, never connection parameters, prompts or query text.

import Fastify, { type FastifyInstance } from 'fastify';
import { listenError } from '../proxy/listen-error.js';
import type { ProxyStats } from '../proxy/stats.js';
import { probeUpstream, type UpstreamTarget } from '../proxy/upstream.js';
import { callsWaiting } from './providers/limits.js';
import { modelMetricsText } from './providers/metrics.js';
import { responseCacheStats } from './providers/response-cache.js';
import { workerMetricsText } from './worker/metrics.js';

const READINESS_TIMEOUT_MS = 2000;

export interface AdminSources {
  stats: ProxyStats;
  upstream: () => UpstreamTarget;
  startedAt: number;
}

export async function startAdminServer(host: string, port: number, sources: AdminSources): Promise<FastifyInstance> {
  // At shutdown, keep-alive connections (a scraper's, say) are closed rather than waited for.
  const app = Fastify({ logger: false, forceCloseConnections: true });
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => {
    const reachable = await probeUpstream(sources.upstream(), READINESS_TIMEOUT_MS);
    return reply.code(reachable ? 200 : 503).send({ status: reachable ? 'ready' : 'upstream unreachable' });
  });
  app.get('/metrics', async (_request, reply) =>
    reply.type('text/plain; version=0.0.4; charset=utf-8').send(renderMetrics(sources)),
  );
  try {
    await app.listen({ host, port });
  } catch (error) {
    throw listenError(error, { host, port });
  }
  return app;
}

type MetricType = 'counter' | 'gauge';

function renderMetrics({ stats, startedAt }: AdminSources): string {
  const lines: string[] = [];
  const metric = (name: string, type: MetricType, help: string, value: number): void => {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, `${name} ${value}`);
  };
  metric('pg_llm_proxy_connections_open', 'gauge', 'Client sessions currently open.', stats.connectionsOpen);
  metric('pg_llm_proxy_connections_total', 'counter', 'Client sessions started.', stats.connectionsTotal);
  metric('pg_llm_proxy_connections_rejected_total', 'counter', 'Connections refused during startup.', stats.connectionsRejected);
  metric('pg_llm_proxy_client_bytes_received_total', 'counter', 'Bytes received from clients.', stats.bytesFromClients);
  metric('pg_llm_proxy_client_bytes_sent_total', 'counter', 'Bytes sent to clients.', stats.bytesToClients);
  metric('pg_llm_proxy_queries_forwarded_total', 'counter', 'Query and Execute messages forwarded upstream.', stats.queriesForwarded);
  metric('pg_llm_proxy_upstream_errors_total', 'counter', 'ErrorResponses sent by the upstream.', stats.upstreamErrors);
  metric('pg_llm_proxy_errors_total', 'counter', 'Errors raised by the proxy itself.', stats.proxyErrors);
  metric('pg_llm_proxy_cancel_requests_total', 'counter', 'Cancel requests forwarded upstream.', stats.cancelRequests);
  metric('pg_llm_proxy_auth_lookups_total', 'counter', "Auth queries run to look up a role's SCRAM secret.", stats.authLookups);
  metric('pg_llm_proxy_uptime_seconds', 'gauge', 'Seconds since the proxy started.', Math.round((Date.now() - startedAt) / 1000));
  metric('pg_llm_proxy_resident_memory_bytes', 'gauge', 'Resident set size of the proxy process.', process.memoryUsage.rss());
  const cache = responseCacheStats();
  metric('pg_llm_response_cache_hits_total', 'counter', 'Answers served from the response cache.', cache.hits);
  metric('pg_llm_response_cache_misses_total', 'counter', 'Cacheable requests that went to the provider.', cache.misses);
  metric('pg_llm_response_cache_evictions_total', 'counter', 'Cached answers dropped to stay within --response-cache-entries.', cache.evictions);
  metric('pg_llm_response_cache_entries', 'gauge', 'Answers in the response cache.', cache.entries);
  metric('pg_llm_model_calls_waiting', 'gauge', 'Model calls waiting for one of the --max-model-calls slots.', callsWaiting());
  lines.push(...modelMetricsText(), ...workerMetricsText());
  return `${lines.join('\n')}\n`;
}
