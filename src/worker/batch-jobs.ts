// llm.call jobs answered through a provider's batch API, for model instances whose config says "batch": true (half
// the price, answered within a day). The worker claims such a job as any other and hands it here: the jobs of one
// model instance handed within a moment (up to MAX_JOBS) go to the provider as one batch, and wait in llm.queue as
// 'batched' with its id, holding no lease and no place among the worker's concurrency. Every --worker-batch-poll
// the worker asks the provider about the batches its owner's jobs wait for; a batch that has ended has its jobs
// taken up again (takeBatch: no further attempt counted) and each answer written back as any answer is (the same
// write batches, the same checks of the row and its owner), each failure recorded as any failure is (a retry after
// the backoff, which batches it again, or 'error' once its attempts are spent). A batch that failed as a whole fails
// each of its jobs so.
//
// The worker writes a job's batch in its owner's name, so the owner may name any batch for its jobs: another
// database's, or one asked with another role's model key. A batch therefore carries a random tag, kept with its jobs
// (batchTag, as a vectorizer's batch does), and is read only for the jobs that name that tag: a batch that does not
// carry it fails the jobs that name it, its results unused.

import type { Logger } from 'pino';
import { batchTag, type BatchOutcome } from '../providers/batch-apis.js';
import { jobAnswer, jobRequest, type JobModels, type Model } from './job.js';
import { dayRefused } from '../cost/budgets.js';
import { dayReached, type Spender } from '../cost/daily-spend.js';
import { meterBatch } from '../providers/metrics.js';
import { meteredModelName } from '../providers/index.js';
import { recordFinished } from './metrics.js';
import { failJob, markBatched, oversizedJob, takeBatch, waitingBatches, type Job } from './queue.js';
import type pg from 'pg';
import type { JobBatches } from './job-batches.js';
import type { WriteBack } from './write-back.js';

/**
 * The signal of the batch API's requests, which nothing aborts: the model config's timeout_ms bounds each (an upload
 * may take longer than a lease, which the worker renews for the jobs meanwhile).
 */
const UNTIL_ANSWERED = new AbortController().signal;
/** How long the first job of a batch waits for others. */
const GATHER_MS = 1000;
/** Jobs in one batch: their answers are read together, within the cap on a chat answer's size (--max-response-bytes). */
export const MAX_JOBS = 256;

interface Handed {
  job: Job;
  resolve(): void;
  reject(error: unknown): void;
}

export interface BatchJobsOptions {
  pool: pg.Pool;
  worker: string;
  models: JobModels;
  writes: JobBatches<Record<string, unknown>, WriteBack>;
  leaseMs: number;
  /** The most of a job's prompt and values read (--max-argument-bytes), as at its claim. */
  maxJobBytes: number;
  retryDelayMs: number;
  database: string;
  /** The owner of the jobs' tables, who pays for their requests. */
  owner(): Promise<Spender>;
  log: Logger;
}

export class BatchJobs {
  /** Jobs waiting to be submitted, by model instance. */
  private readonly gathering = new Map<string, { model: Model; jobs: Handed[]; timer: NodeJS.Timeout }>();
  /** Jobs of ended batches being written back or failed: their leases are renewed with the running jobs'. */
  readonly finishing = new Set<string>();
  private polling = false;

  constructor(private readonly options: BatchJobsOptions) {}

  /** Submits the job with the next batch of its model; resolves once it waits in the queue as 'batched'. */
  submit(job: Job, model: Model): Promise<void> {
    const instance = job.modelInstance ?? '';
    return new Promise((resolve, reject) => {
      // A provider without a batch API fails the job here.
      model.batches();
      let batch = this.gathering.get(instance);
      if (!batch) {
        batch = { model, jobs: [], timer: setTimeout(() => void this.send(instance), GATHER_MS) };
        this.gathering.set(instance, batch);
      }
      batch.jobs.push({ job, resolve, reject });
      if (batch.jobs.length >= MAX_JOBS) void this.send(instance);
    });
  }

  private async send(instance: string): Promise<void> {
    const batch = this.gathering.get(instance);
    if (!batch) return;
    this.gathering.delete(instance);
    clearTimeout(batch.timer);
    const { jobs, model } = batch;
    try {
      // Its cost is known only once it has ended: an owner whose day is spent already submits none (the jobs wait for
      // the next day, as a refused call's do).
      const reached = dayReached(await this.options.owner());
      if (reached) throw dayRefused(reached);
      const requests = jobs.map(({ job }) => ({ id: job.id, request: jobRequest(job, model.config) }));
      const tag = batchTag();
      const batchId = await model.batches().submit(requests, UNTIL_ANSWERED, tag);
      const marked = new Set(await markBatched(this.options.pool, this.options.worker, jobs.map(({ job }) => job.id), batchId, tag));
      this.options.log.debug({ batch: batchId, jobs: marked.size }, 'llm.call jobs submitted in a batch');
      // A job no longer this worker's (its lease ran out meanwhile) is another worker's to run: its answer in this
      // batch is left unread.
      for (const handed of jobs) handed.resolve();
    } catch (error) {
      for (const handed of jobs) handed.reject(error);
    }
  }

  /** Looks at the batches the queue's jobs wait for, and finishes the jobs of those that have ended. */
  async poll(): Promise<void> {
    if (this.polling) return;
    this.polling = true;
    try {
      for (const { batchId, tag, modelInstance } of await waitingBatches(this.options.pool)) {
        try {
          await this.look(batchId, tag, modelInstance);
        } catch (error) {
          this.options.log.warn({ batch: batchId, model_instance: modelInstance, err: (error as Error).message }, 'could not learn the state of a batch; asking again at the next poll');
        }
      }
    } finally {
      this.polling = false;
    }
  }

  private async look(batchId: string, tag: string, instance: string): Promise<void> {
    const model = await this.options.models.model(instance);
    const state = await model.batches().state(batchId, UNTIL_ANSWERED, tag);
    if (state.kind === 'running') return;
    const payer = await this.options.owner();
    const jobs = await takeBatch(this.options.pool, this.options.worker, batchId, tag, this.options.leaseMs, this.options.maxJobBytes);
    if (jobs.length > 0 && state.kind === 'failed') {
      this.options.log.warn({ batch: batchId, model_instance: instance, jobs: jobs.length, reason: state.reason }, 'a batch of llm.call jobs failed as a whole; each of its jobs fails its attempt');
    }
    // Counted by the worker that took the batch's jobs, once.
    if (jobs.length > 0 && state.kind === 'ended') {
      const usages = [...state.outcomes.values()].flatMap((outcome) => (outcome.ok ? [outcome.usage] : []));
      meterBatch('chat', String(model.config.provider ?? 'mock'), meteredModelName(model.config), model.config, payer, usages);
    }
    for (const job of jobs) this.finishing.add(job.id);
    try {
      await Promise.all(jobs.map((job) => this.finish(job, state.kind === 'ended' ? state.outcomes.get(job.id) : { ok: false, error: state.reason })));
    } finally {
      for (const job of jobs) this.finishing.delete(job.id);
    }
  }

  private async finish(job: Job, outcome: BatchOutcome | undefined): Promise<void> {
    const { pool, worker, writes, retryDelayMs, database, log } = this.options;
    try {
      if (!outcome) throw new Error('the batch ended without a result for this job');
      if (!outcome.ok) throw new Error(outcome.error);
      // Under a --max-argument-bytes lowered since the job's claim: its answer cannot be matched to the row unread.
      if (job.oversized) throw oversizedJob(this.options.maxJobBytes);
      const { outcome: written, seconds } = await writes.add(job, jobAnswer(job, outcome.value));
      recordFinished(database, written, written === 'done' ? seconds : undefined);
    } catch (error) {
      const failed = await failJob(pool, worker, job, (error as Error).message, retryDelayMs);
      recordFinished(database, failed);
      log[failed === 'error' ? 'warn' : 'debug']({ job: job.id, attempt: job.attempts, outcome: failed, err: (error as Error).message }, 'llm.call job failed in its batch');
    }
  }
}
