// The worker on /metrics and on the admin dashboard, by database served (the operator's --worker URLs, so a bounded set): llm.queue's jobs by
// status (as the worker last counted them), the jobs this proxy finished by outcome and the ones it is running, and
// job latency, from the write that queued the job to its answer being in the row.

import { Counter, Gauge, Histogram } from 'prom-client';
import { labelValue, processRegistry } from '../metrics.js';
import { STATUSES, type Outcome, type Status } from './queue.js';

const registers = [processRegistry];
const queueJobs = new Gauge({ name: 'pg_llm_queue_jobs', help: 'Jobs in llm.queue by status, as the worker last counted them.', labelNames: ['database', 'status'], registers });
const jobsRunning = new Gauge({ name: 'pg_llm_worker_jobs_running', help: 'llm.call jobs this proxy is running.', labelNames: ['database'], registers });
const jobsFinished = new Counter({
  name: 'pg_llm_worker_jobs_total',
  help: "Attempts at llm.call jobs this proxy finished, by outcome: done, skipped, retry, error, deferred (to the next day of its owner's daily budget), lost (taken over by another worker).",
  labelNames: ['database', 'outcome'],
  registers,
});
const jobSeconds = new Histogram({
  name: 'pg_llm_worker_job_seconds',
  help: 'Time from the write that queued a job to its answer written into the row.',
  labelNames: ['database'],
  buckets: [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
  registers,
});

/** What the admin dashboard shows of one database's queues, as the worker last counted them. */
export interface QueueCounts {
  jobs?: Record<Status, number>;
  /** Rows waiting in each vectorizer's queue; counted up to one past PENDING_COUNT_CAP (vectorizers.ts). */
  vectorizers?: Array<{ name: string; pending: number }>;
}

/** By database served: one entry per --worker URL. */
const lastCounts = new Map<string, QueueCounts>();

export function queueCounts(): Array<{ database: string } & QueueCounts> {
  return [...lastCounts].map(([database, counts]) => ({ database, ...counts }));
}

export function recordQueueCounts(database: string, counts: Record<Status, number>): void {
  for (const status of STATUSES) queueJobs.set({ database: labelValue(database), status }, counts[status]);
  lastCounts.set(database, { ...lastCounts.get(database), jobs: counts });
}

export function recordVectorizerQueues(database: string, vectorizers: Array<{ name: string; pending: number }>): void {
  lastCounts.set(database, { ...lastCounts.get(database), vectorizers });
}

export function recordRunning(database: string, running: number): void {
  jobsRunning.set({ database: labelValue(database) }, running);
}

/** A job this proxy finished; `seconds` (since it was queued) for those whose answer was written. */
export function recordFinished(database: string, outcome: Outcome, seconds?: number): void {
  jobsFinished.inc({ database: labelValue(database), outcome });
  if (seconds !== undefined) jobSeconds.observe({ database: labelValue(database) }, seconds);
}

const vectorizerRows = new Counter({
  name: 'pg_llm_vectorizer_rows_total',
  help: "Rows of pgai vectorizers' queues this proxy processed, by outcome: done (chunks embedded and stored), failed (retried later) or deferred (to the next day of its owner's daily budget).",
  labelNames: ['database', 'outcome'],
  registers,
});

export function recordVectorizerBatch(database: string, outcome: 'done' | 'failed' | 'deferred', rows: number): void {
  vectorizerRows.inc({ database: labelValue(database), outcome }, rows);
}
