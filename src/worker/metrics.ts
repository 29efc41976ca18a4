// The worker on /metrics, by database served (the operator's --worker URLs, so a bounded set): llm.queue's jobs by status (as the worker last counted them), the
// jobs this proxy finished by outcome and the ones it is running, and job latency, from the write that queued the
// job to its answer being in the row.

import { labelValue } from '../providers/metrics.js';
import { STATUSES, type Outcome, type Status } from './queue.js';

const SECONDS_BUCKETS = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];

interface DatabaseCounters {
  queue: Record<Status, number> | undefined;
  finished: Map<Outcome, number>;
  running: number;
  /** Jobs whose latency was at most each bound, cumulatively, then the sum and count. */
  buckets: number[];
  seconds: number;
  count: number;
}

const databases = new Map<string, DatabaseCounters>();

function countersOf(database: string): DatabaseCounters {
  let counters = databases.get(database);
  if (!counters) {
    counters = { queue: undefined, finished: new Map(), running: 0, buckets: SECONDS_BUCKETS.map(() => 0), seconds: 0, count: 0 };
    databases.set(database, counters);
  }
  return counters;
}

export function recordQueueCounts(database: string, counts: Record<Status, number>): void {
  countersOf(database).queue = counts;
}

export function recordRunning(database: string, running: number): void {
  countersOf(database).running = running;
}

/** A job this proxy finished; `seconds` (since it was queued) for those whose answer was written. */
export function recordFinished(database: string, outcome: Outcome, seconds?: number): void {
  const counters = countersOf(database);
  counters.finished.set(outcome, (counters.finished.get(outcome) ?? 0) + 1);
  if (seconds === undefined) return;
  SECONDS_BUCKETS.forEach((bound, i) => (counters.buckets[i]! += seconds <= bound ? 1 : 0));
  counters.seconds += seconds;
  counters.count++;
}

/** The counters in Prometheus' text format. */
export function workerMetricsText(): string[] {
  const all = [...databases.entries()].map(([database, counters]) => [`database="${labelValue(database)}"`, counters] as const);
  return [
    '# HELP pg_llm_queue_jobs Jobs in llm.queue by status, as the worker last counted them.',
    '# TYPE pg_llm_queue_jobs gauge',
    ...all.flatMap(([labels, counters]) => (counters.queue ? STATUSES.map((status) => `pg_llm_queue_jobs{${labels},status="${status}"} ${counters.queue![status]}`) : [])),
    '# HELP pg_llm_worker_jobs_running llm.call jobs this proxy is running.',
    '# TYPE pg_llm_worker_jobs_running gauge',
    ...all.map(([labels, counters]) => `pg_llm_worker_jobs_running{${labels}} ${counters.running}`),
    '# HELP pg_llm_worker_jobs_total Attempts at llm.call jobs this proxy finished, by outcome: done, skipped, retry, error, lost (taken over by another worker).',
    '# TYPE pg_llm_worker_jobs_total counter',
    ...all.flatMap(([labels, counters]) => [...counters.finished].map(([outcome, count]) => `pg_llm_worker_jobs_total{${labels},outcome="${outcome}"} ${count}`)),
    '# HELP pg_llm_worker_job_seconds Time from the write that queued a job to its answer written into the row.',
    '# TYPE pg_llm_worker_job_seconds histogram',
    ...all.flatMap(([labels, counters]) => [
      ...SECONDS_BUCKETS.map((bound, i) => `pg_llm_worker_job_seconds_bucket{${labels},le="${bound}"} ${counters.buckets[i]}`),
      `pg_llm_worker_job_seconds_bucket{${labels},le="+Inf"} ${counters.count}`,
      `pg_llm_worker_job_seconds_sum{${labels}} ${counters.seconds}`,
      `pg_llm_worker_job_seconds_count{${labels}} ${counters.count}`,
    ]),
  ];
}
