// The worker's write-backs, gathered by table: an answered job waits a short moment, or until enough of its table's
// jobs are answered, and is written with them by completeJobs (write-back.ts) in one transaction. A table has one
// batch being written at a time, and a batch holds one job per row: no two write-backs of this worker wait on one
// row, and a row answered twice meanwhile takes its answers one after the other, as job by job. A batch that fails is
// written again job by job (completeJob), so that one job's failure (an answer its column refuses, a trigger that
// raises) is that job's alone.

import type pg from 'pg';
import { jobTable } from './job-row.js';
import { completeJob, type Job } from './queue.js';
import { completeJobs, type Answered, type WriteBack } from './write-back.js';

/** How long the first answer of a batch waits for others: a few ms against model calls of tens of ms and more. */
const GATHER_MS = 5;
/** A batch this large is written at once. */
const MAX_BATCH = 100;

interface Waiting extends Answered {
  resolve(written: WriteBack): void;
  reject(error: unknown): void;
}

interface TableWrites {
  waiting: Waiting[];
  timer?: NodeJS.Timeout;
  writing: boolean;
}

export class WriteBatches {
  private readonly tables = new Map<string, TableWrites>();

  constructor(
    private readonly pool: pg.Pool,
    private readonly worker: string,
  ) {}

  /** Writes the job's answer into its row with the next batch of its table; resolves once that is committed. */
  write(job: Job, answer: Record<string, unknown>): Promise<WriteBack> {
    return new Promise((resolve, reject) => {
      const key = jobTable(job);
      const table = this.tables.get(key) ?? { waiting: [], writing: false };
      this.tables.set(key, table);
      table.waiting.push({ job, answer, resolve, reject });
      this.schedule(key, table);
    });
  }

  private schedule(key: string, table: TableWrites): void {
    // The batch being written looks at the waiting jobs when it is done.
    if (table.writing) return;
    if (table.waiting.length >= MAX_BATCH) {
      clearTimeout(table.timer);
      table.timer = undefined;
      void this.flush(key, table);
      return;
    }
    table.timer ??= setTimeout(() => {
      table.timer = undefined;
      void this.flush(key, table);
    }, GATHER_MS);
  }

  private async flush(key: string, table: TableWrites): Promise<void> {
    table.writing = true;
    const batch = takeBatch(table.waiting);
    try {
      await this.writeBatch(batch);
    } finally {
      table.writing = false;
      // Those that came meanwhile have waited for a whole write already.
      if (table.waiting.length > 0) void this.flush(key, table);
      else this.tables.delete(key);
    }
  }

  private async writeBatch(batch: Waiting[]): Promise<void> {
    let outcomes: Map<string, WriteBack>;
    try {
      outcomes = await completeJobs(this.pool, this.worker, batch);
    } catch (error) {
      if (batch.length === 1) return batch[0]!.reject(error);
      for (const waiting of batch) await completeJob(this.pool, this.worker, waiting.job, waiting.answer).then(waiting.resolve, waiting.reject);
      return;
    }
    for (const waiting of batch) waiting.resolve(outcomes.get(waiting.job.id)!);
  }
}

/** Takes up to MAX_BATCH of the waiting jobs, in order, at most one per row; the others keep waiting. */
function takeBatch(waiting: Waiting[]): Waiting[] {
  const rows = new Set<string>();
  const batch: Waiting[] = [];
  const later: Waiting[] = [];
  for (const job of waiting) {
    const row = JSON.stringify(job.job.rowPk);
    if (batch.length < MAX_BATCH && !rows.has(row)) {
      rows.add(row);
      batch.push(job);
    } else later.push(job);
  }
  waiting.splice(0, waiting.length, ...later);
  return batch;
}
