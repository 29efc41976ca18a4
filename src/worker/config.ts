// What the llm.call worker is told by the configuration (--worker and the --worker-* options), and how a
// database it serves is named where people read it: logs and /metrics, never with its password.

export interface WorkerSettings {
  /** One postgres:// URL per database served, each with the role the worker connects as. */
  databases: string[];
  /** Jobs in flight per database. */
  concurrency: number;
  /** How long a claimed job stays claimed without its worker renewing the lease. */
  leaseMs: number;
  /** How often the queue is looked at when no notification came. */
  pollMs: number;
  /** The wait before a failed job's first retry; it doubles with each further attempt. */
  retryDelayMs: number;
  /** How often the provider is asked about the batches that jobs wait for (batch-jobs.ts). */
  batchPollMs: number;
  /** How long done and skipped jobs are kept. */
  keepDoneSeconds: number;
  /** The most of a job's prompt and values, as JSON text, read (--max-argument-bytes): a bigger job fails unread. */
  maxJobBytes: number;
}

/** ROLE@HOST:PORT/DATABASE of a --worker URL. */
export function describeDatabase(url: string): string {
  const parsed = new URL(url);
  const role = decodeURIComponent(parsed.username) || parsed.searchParams.get('user');
  return `${role}@${parsed.hostname || 'localhost'}:${parsed.port || '5432'}/${decodeURIComponent(parsed.pathname.slice(1))}`;
}
