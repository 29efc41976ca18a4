// The worker's statements about jobs, gathered by table: a job's row checked before its model is asked (job-row.ts),
// and its answer written back (write-back.ts). A job waits a short moment, or until enough of its table's jobs are
// waiting, and is handled with them in one transaction. A table has one batch in hand at a time, and a batch may be
// held to one job per row: no two write-backs of this worker wait on one row, and a row answered twice meanwhile
// takes its answers one after the other, as job by job. A batch that fails is done again job by job, so that one
// job's failure (an answer its column refuses, a trigger that raises) is that job's alone; but not one that failed
// for a lock on its table not had in time, which every job of it would wait for again.

import type { Job } from './queue.js';
import { lockedOut } from './row-session.js';

/** A batch this large is handled at once. */
const MAX_BATCH = 100;

/** A job and what is to be done with it (its answer, for a write-back). */
export interface Batched<Input> {
  job: Job;
  input: Input;
}

export interface BatchWork<Input, Output> {
  /** Handles jobs of one table together; resolves to each job's output by job id. */
  all(batch: Array<Batched<Input>>): Promise<Map<string, Output>>;
  /** Handles one job alone, after its batch failed. */
  one(item: Batched<Input>): Promise<Output>;
  /** How long the first job of a batch waits for others. */
  gatherMs: number;
  /** Whether a batch holds at most one job per row. */
  onePerRow: boolean;
}

interface Waiting<Input, Output> extends Batched<Input> {
  resolve(output: Output): void;
  reject(error: unknown): void;
}

interface TableBatch<Input, Output> {
  waiting: Array<Waiting<Input, Output>>;
  timer?: NodeJS.Timeout;
  busy: boolean;
}

export class JobBatches<Input, Output> {
  private readonly tables = new Map<string, TableBatch<Input, Output>>();

  constructor(private readonly work: BatchWork<Input, Output>) {}

  /** Handles the job with the next batch of its table; resolves once that is committed. */
  add(job: Job, input: Input): Promise<Output> {
    return new Promise((resolve, reject) => {
      const key = job.tableOid;
      const table = this.tables.get(key) ?? { waiting: [], busy: false };
      this.tables.set(key, table);
      table.waiting.push({ job, input, resolve, reject });
      this.schedule(key, table);
    });
  }

  private schedule(key: string, table: TableBatch<Input, Output>): void {
    // The batch in hand looks at the waiting jobs when it is done.
    if (table.busy) return;
    if (table.waiting.length >= MAX_BATCH) {
      clearTimeout(table.timer);
      table.timer = undefined;
      void this.flush(key, table);
      return;
    }
    table.timer ??= setTimeout(() => {
      table.timer = undefined;
      void this.flush(key, table);
    }, this.work.gatherMs);
  }

  private async flush(key: string, table: TableBatch<Input, Output>): Promise<void> {
    table.busy = true;
    const batch = this.takeBatch(table.waiting);
    try {
      await this.handle(batch);
    } finally {
      table.busy = false;
      // Those that came meanwhile have waited for a whole batch already.
      if (table.waiting.length > 0) void this.flush(key, table);
      else this.tables.delete(key);
    }
  }

  private async handle(batch: Array<Waiting<Input, Output>>): Promise<void> {
    let outputs: Map<string, Output>;
    try {
      outputs = await this.work.all(batch);
    } catch (error) {
      // A lock not had in time is the table's, not one job's: done again job by job, each would wait as long.
      if (batch.length === 1 || lockedOut(error)) {
        for (const waiting of batch) waiting.reject(error);
        return;
      }
      for (const waiting of batch) await this.work.one(waiting).then(waiting.resolve, waiting.reject);
      return;
    }
    for (const waiting of batch) waiting.resolve(outputs.get(waiting.job.id)!);
  }

  /** Takes up to MAX_BATCH of the waiting jobs, in order (at most one per row if so asked); the others keep waiting. */
  private takeBatch(waiting: Array<Waiting<Input, Output>>): Array<Waiting<Input, Output>> {
    const rows = new Set<string>();
    const batch: Array<Waiting<Input, Output>> = [];
    const later: Array<Waiting<Input, Output>> = [];
    for (const item of waiting) {
      const row = this.work.onePerRow ? JSON.stringify(item.job.rowPk) : undefined;
      if (batch.length < MAX_BATCH && (row === undefined || !rows.has(row))) {
        if (row !== undefined) rows.add(row);
        batch.push(item);
      } else later.push(item);
    }
    waiting.splice(0, waiting.length, ...later);
    return batch;
  }
}
