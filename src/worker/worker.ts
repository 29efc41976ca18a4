// The llm.call worker of one database: woken by NOTIFY pg_llm_queue when a trigger queues a job (and by a slow
// poll, for retries that come due and notifications missed while disconnected), it claims jobs up to its
// concurrency and a wave ahead (only jobs of the tables its login role owns), checks the jobs' rows (job-row.ts: still
// there, and the version its writer wrote), runs them as places among the concurrency free up (the provider layer's
// limits hold the model calls to the process's and each model's limits), and writes the answers back; checks and
// write-backs go in batches by table (job-batches.ts). A job's place among the concurrency is given to the next job
// once its answer is in; until it is written it stays this worker's, its lease renewed like those of the jobs running.
// At shutdown it gives back the jobs claimed ahead, lets running jobs finish for a while, then stops them and gives
// them back to the queue. The same connections and wake-ups serve the database's
// pgai vectorizers (vectorizer-worker.ts), woken on their own channel. The model calls of both are made for the
// owner of the tables, the worker's login role, and count against its daily budget: a job it leaves no room for
// waits for the next UTC day, and so does the rest of the owner's work (budget-pause.ts). Its connections wait for a
// lock at most WORKER_LOCK_TIMEOUT (row-session.ts): a job whose table another session holds locked goes back to the
// queue untried, with the table's other jobs, for a while.

import { randomBytes } from 'node:crypto';
import os from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import type { Logger } from 'pino';
import { VECTORIZER_CHANNEL } from '../../functions/pgai/vectorizer-create.js';
import { weakerOwnerRefusal, WEAKER_CATALOG_OWNER } from '../catalog/owner-rights.js';
import { sqlstateOf, type PgError } from '../../proxy/pg-error.js';
import { overBudget } from '../cost/budgets.js';
import { nextUtcDay } from '../cost/daily-spend.js';
import type { MasterKey } from '../crypto/secrets.js';
import { ASKER_SQL } from '../intercept/session-settings.js';
import { askerParts } from '../providers/asker.js';
import { CallLimit } from '../providers/call-limit.js';
import type { DefaultProviders } from '../providers/default-provider.js';
import { BudgetPause } from './budget-pause.js';
import { describeDatabase, type WorkerSettings } from './config.js';
import { BatchJobs, MAX_JOBS as MAX_BATCH_JOBS } from './batch-jobs.js';
import { answerJob, JobModels } from './job.js';
import { checkJobRows, type Checked } from './job-row.js';
import { JobBatches } from './job-batches.js';
import { recordFinished, recordQueueCounts, recordRunning, recordVectorizerQueues } from './metrics.js';
import { claimJobs, completeJob, countByStatus, deferJob, deferJobs, failJob, oversizedJob, releaseJobs, renewLeases, tidyQueue, WORKER_PRIVILEGES, type Job } from './queue.js';
import { connectionWithLockTimeout, LOCKED_OUT_DELAY_MS, lockedOut } from './row-session.js';
import { VectorizerRunner } from './vectorizer-worker.js';
import { completeJobs, type WriteBack } from './write-back.js';

const CHANNEL = 'pg_llm_queue';
/** Connections for claims and write-backs: these are short statements, so a few serve many jobs in flight. */
const MAX_POOL_SIZE = 8;
/** How long a place freed among the concurrency waits for others before jobs are claimed for them. */
const CLAIM_GATHER_MS = 5;
/** How long an answered job waits for others of its table: a few ms against model calls of tens of ms and more. */
const WRITE_GATHER_MS = 5;
const APPLICATION_NAME = 'pg_llm worker';
/** Why a job's model call is stopped when another worker has taken the job: its lease ran out meanwhile. */
const LEASE_LOST = new Error('the job was taken by another worker: its lease ran out');
/** Answered jobs held at once, beyond those running: a few batches being gathered and submitted (batch-jobs.ts). */
const MAX_ANSWERED = 4 * MAX_BATCH_JOBS;

export interface WorkerOptions {
  /** The --worker URL: the database and the role. */
  url: string;
  settings: Omit<WorkerSettings, 'databases'>;
  defaults: DefaultProviders;
  masterKeys: MasterKey[];
  log: Logger;
}

export class QueueWorker {
  /** Names this worker in llm.queue.worker: host, process and a random part, so restarts are told apart. */
  readonly id = `${os.hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
  readonly database: string;
  private readonly pool: pg.Pool;
  private readonly models: JobModels;
  private readonly vectorizers: VectorizerRunner;
  private readonly log: Logger;
  /** The rows of the jobs claimed, checked together: a claim's jobs of one table in one transaction. */
  private readonly checks: JobBatches<undefined, Checked>;
  private readonly writes: JobBatches<Record<string, unknown>, WriteBack>;
  private readonly batches: BatchJobs;
  /** The jobs claimed and not finished: waiting for a place, asking their model, or answered and waiting to be written. */
  private readonly running = new Map<string, AbortController>();
  /** Of those, the jobs that have taken a place among the concurrency to ask their model. */
  private readonly placed = new Set<string>();
  /** Of those, the jobs answered: they no longer count against the concurrency. */
  private readonly answered = new Set<string>();
  /**
   * The places among the concurrency. Jobs are claimed and checked a wave ahead (up to the concurrency more than
   * the places), so that a place freed goes to a checked job at once rather than after a claim and a check in turn,
   * which cost as much again as a fast model's call per wave. A job waiting for its place keeps its lease; its row is
   * checked again, as ever, when its answer is written.
   */
  private readonly places: CallLimit;
  /** Jobs given back to the queue at shutdown. */
  private released = 0;
  private listener: pg.Client | undefined;
  private timers: NodeJS.Timeout[] = [];
  private filling = false;
  /** A claim for the places freed lately, due shortly. */
  private claimTimer: NodeJS.Timeout | undefined;
  private fillAgain = false;
  private stopping = false;
  private stopped: Promise<void> | undefined;
  /** The last problem reaching the queue, logged once rather than at every poll. */
  private lastProblem: string | undefined;
  /** Whom the model calls are made for (an asker: asker.ts), read once. */
  private owner: Promise<string> | undefined;
  private readonly budget: BudgetPause;
  /**
   * Whether the worker may use the catalog, asked again at each tick: not when its login role is or may become a
   * superuser and the catalog's owner may not (owner-rights.ts), as llm.queue's rules, the claims' checks and the
   * vectorizers' index run code of the catalog's owner with the worker's rights.
   */
  private mayServe: Promise<boolean> = Promise.resolve(false);

  constructor(private readonly options: WorkerOptions) {
    this.database = describeDatabase(options.url);
    this.log = options.log.child({ worker: this.database });
    this.budget = new BudgetPause(this.log);
    const poolSize = Math.min(MAX_POOL_SIZE, options.settings.concurrency + 1);
    this.places = new CallLimit(options.settings.concurrency);
    this.pool = new pg.Pool({ connectionString: connectionWithLockTimeout(options.url), max: poolSize, application_name: APPLICATION_NAME });
    // An idle connection that drops is replaced on next use; its error must not end the process.
    this.pool.on('error', (error) => this.log.warn({ err: error.message }, 'worker connection lost'));
    this.models = new JobModels(this.pool, options.masterKeys, options.defaults);
    const { pool, id } = this;
    this.checks = new JobBatches({
      all: (batch) => checkJobRows(pool, id, batch.map(({ job }) => job)),
      one: async ({ job }) => (await checkJobRows(pool, id, [job])).get(job.id)!,
      gatherMs: 0,
      onePerRow: false,
    });
    this.writes = new JobBatches({
      all: (batch) => completeJobs(pool, id, batch.map(({ job, input }) => ({ job, answer: input }))),
      one: ({ job, input }) => completeJob(pool, id, job, input),
      gatherMs: WRITE_GATHER_MS,
      onePerRow: true,
    });
    const { retryDelayMs, leaseMs } = options.settings;
    this.batches = new BatchJobs({ pool: this.pool, worker: this.id, models: this.models, writes: this.writes, leaseMs, maxJobBytes: options.settings.maxJobBytes, retryDelayMs, database: this.database, owner: async () => askerParts(await this.tablesOwner())!, log: this.log });
    // A vectorizer's batch holds a connection while its chunks are embedded: one connection stays for the claims and
    // write-backs of llm.call jobs.
    const lanes = poolSize - 1;
    this.vectorizers = new VectorizerRunner({ pool: this.pool, database: this.database, defaults: options.defaults, lanes, retryDelayMs, budget: this.budget, log: this.log });
  }

  start(): void {
    const { pollMs, leaseMs, batchPollMs } = this.options.settings;
    this.timers = [
      setInterval(() => void this.tick(), pollMs),
      setInterval(() => void this.renew(), Math.max(1, Math.floor(leaseMs / 3))),
      setInterval(() => void this.whenServing(() => Promise.all([this.batches.poll(), this.vectorizers.pollBatches()])).catch((error: unknown) => this.problem(error)), batchPollMs),
    ];
    void this.tick();
    this.log.info({ id: this.id, concurrency: this.options.settings.concurrency }, 'llm.call worker started');
  }

  /** Stops claiming; running jobs get `timeoutMs` to finish, then are stopped and given back to the queue. */
  stop(timeoutMs: number): Promise<void> {
    this.stopped ??= this.shutDown(timeoutMs);
    return this.stopped;
  }

  private async shutDown(timeoutMs: number): Promise<void> {
    this.stopping = true;
    for (const timer of this.timers) clearInterval(timer);
    clearTimeout(this.claimTimer);
    const listener = this.listener;
    this.listener = undefined;
    await listener?.end().catch(() => undefined);
    // Jobs claimed ahead have not asked their model: they go back to the queue at once.
    await this.giveBack([...this.running.keys()].filter((id) => !this.placed.has(id)));
    const deadline = Date.now() + timeoutMs;
    while (this.running.size > 0 && Date.now() < deadline) await sleep(20);
    // An answered job is being written: it finishes.
    const unfinished = [...this.running.keys()].filter((id) => !this.answered.has(id));
    await this.giveBack(unfinished);
    // Stopped jobs settle at once; one that was writing its answer back finishes that first.
    while (this.running.size > 0) await sleep(10);
    await this.vectorizers.stop();
    await this.pool.end();
    this.log.info({ released: this.released }, 'llm.call worker stopped');
  }

  /** Stops the runs of jobs, at shutdown, and gives the jobs back to the queue untried. */
  private async giveBack(ids: string[]): Promise<void> {
    for (const id of ids) this.running.get(id)!.abort(new Error('the proxy is shutting down'));
    try {
      await releaseJobs(this.pool, this.id, ids);
      this.released += ids.length;
    } catch (error) {
      this.log.warn({ err: (error as Error).message, jobs: ids.length }, 'could not give unfinished jobs back: they return to the queue when their lease runs out');
    }
  }

  /** The slow path: listen again if the connection was lost, upkeep, counts for /metrics and the dashboard, and a look for due jobs. */
  private async tick(): Promise<void> {
    this.mayServe = this.catalogTrusted();
    if (!(await this.mayServe)) return;
    try {
      if (!this.listener) await this.listen();
      await tidyQueue(this.pool, this.options.settings.keepDoneSeconds);
      recordQueueCounts(this.database, await countByStatus(this.pool));
      this.lastProblem = undefined;
    } catch (error) {
      this.problem(error);
    }
    const counted = this.vectorizers.pending().then((pending) => pending && recordVectorizerQueues(this.database, pending));
    await Promise.all([this.fill(), this.vectorizers.wake(), counted]);
  }

  private async listen(): Promise<void> {
    const client = new pg.Client({ connectionString: connectionWithLockTimeout(this.options.url), application_name: APPLICATION_NAME });
    const lost = (error?: Error): void => {
      if (this.listener !== client) return;
      this.listener = undefined;
      this.log.warn({ err: error?.message }, 'worker lost its LISTEN connection; polling until it is back');
    };
    client.on('error', lost);
    client.on('end', () => lost());
    client.on('notification', (message) => void this.whenServing(() => (message.channel === VECTORIZER_CHANNEL ? this.vectorizers.wake() : this.fill())));
    try {
      await client.connect();
      await client.query(`LISTEN ${CHANNEL}; LISTEN ${VECTORIZER_CHANNEL}`);
    } catch (error) {
      await client.end().catch(() => undefined);
      throw error;
    }
    if (this.stopping) return void (await client.end());
    this.listener = client;
    await this.sayWhomItServes(client);
  }

  /**
   * Logs whose tables this worker fills: those its login role owns. Jobs of other owners' tables wait in llm.queue
   * for a worker connected as their owner; a session running as another role (ALTER ROLE … SET role) serves none.
   */
  private async sayWhomItServes(client: pg.Client): Promise<void> {
    const { rows } = await client.query(`SELECT session_user::pg_catalog.text AS login, current_user::pg_catalog.text AS role`);
    const { login, role } = rows[0] as { login: string; role: string };
    if (login === role) this.log.info({ owner: login }, `llm.call worker serves the tables owned by ${login}; jobs of other owners' tables wait for their owner's worker`);
    else this.log.warn({ login, role }, `llm.call worker serves no table: its session runs as ${role}, not as its login role ${login}; connect as the tables' owner, without a role setting`);
  }

  /** Whether the catalog's owner may act with the rights of the worker's login role (owner-rights.ts); logs why not. */
  private async catalogTrusted(): Promise<boolean> {
    try {
      const { rows } = await this.pool.query(`SELECT ${WEAKER_CATALOG_OWNER} AS weaker_owner`);
      const weakerOwner = (rows[0] as { weaker_owner: string | null }).weaker_owner;
      if (weakerOwner === null) return true;
      const { message, hint } = weakerOwnerRefusal(weakerOwner);
      if (message !== this.lastProblem) this.log.warn({ hint }, `llm.call worker serves nothing: ${message}`);
      this.lastProblem = message;
    } catch (error) {
      this.problem(error);
    }
    return false;
  }

  /** Runs `work` if the last tick found that the worker may use the catalog. */
  private async whenServing(work: () => Promise<unknown>): Promise<void> {
    if (await this.mayServe) await work();
  }

  /** Claims and starts jobs until the concurrency is used up or none is due; calls made meanwhile run it again. */
  private async fill(): Promise<void> {
    if (this.filling) return void (this.fillAgain = true);
    this.filling = true;
    try {
      do {
        this.fillAgain = false;
        while (!this.stopping && !this.budget.paused) {
          // Answered jobs (written back, or waiting for their batch to be submitted) hold no place, but only so many.
          const { concurrency } = this.options.settings;
          const room = Math.min(2 * concurrency - (this.running.size - this.answered.size), 2 * concurrency + MAX_ANSWERED - this.running.size);
          // While jobs claimed ahead wait for places, the next claim waits for half a wave's room: a claim costs
          // about as much for a few jobs as for many.
          const ahead = this.running.size - this.placed.size;
          if (room <= 0 || (ahead > 0 && room < concurrency / 2)) break;
          const jobs = await claimJobs(this.pool, this.id, room, this.options.settings.leaseMs, this.held(), this.options.settings.maxJobBytes);
          for (const job of jobs) this.run(job);
          if (jobs.length < room) break;
        }
      } while (this.fillAgain && !this.stopping);
    } catch (error) {
      this.problem(error);
    } finally {
      this.filling = false;
      recordRunning(this.database, this.running.size);
    }
  }

  /** Fills the places freed by finished jobs together, a claim for the lot rather than one for each. */
  private fillSoon(): void {
    this.claimTimer ??= setTimeout(() => {
      this.claimTimer = undefined;
      void this.fill();
    }, CLAIM_GATHER_MS);
  }

  private run(job: Job): void {
    const controller = new AbortController();
    this.running.set(job.id, controller);
    void this.execute(job, controller.signal).finally(() => {
      this.running.delete(job.id);
      this.placed.delete(job.id);
      this.answered.delete(job.id);
      recordRunning(this.database, this.running.size);
      this.fillSoon();
    });
  }

  private async execute(job: Job, signal: AbortSignal): Promise<void> {
    const { tableSchema, tableName, id } = job;
    let leave: (() => void) | undefined;
    // Its place among the concurrency goes to the next job once it has its answer, or waits for its batch to be submitted.
    const answered = (): void => {
      leave?.();
      this.answered.add(id);
      this.fillSoon();
    };
    try {
      if (job.oversized) throw oversizedJob(this.options.settings.maxJobBytes);
      const checked = await this.checks.add(job, undefined);
      if (checked !== 'ready') {
        recordFinished(this.database, checked);
        this.log.debug({ job: id, table: `${tableSchema}.${tableName}`, outcome: checked }, 'llm.call job not run');
        return;
      }
      leave = await this.places.acquire(signal);
      this.placed.add(id);
      const model = await this.models.model(job.modelInstance);
      if (model.batched) {
        answered();
        return await this.batches.submit(job, model);
      }
      const answer = await answerJob(job, model, signal, await this.tablesOwner());
      answered();
      const { outcome, seconds } = await this.writes.add(job, answer);
      recordFinished(this.database, outcome, outcome === 'done' ? seconds : undefined);
      this.log.debug({ job: id, table: `${tableSchema}.${tableName}`, outcome }, 'llm.call job finished');
    } catch (error) {
      // Stopped at shutdown (given back to the queue by stop()) or taken by another worker: not a failed attempt.
      if (signal.aborted) {
        if (signal.reason === LEASE_LOST) recordFinished(this.database, 'lost');
        return;
      }
      const message = failure(error);
      try {
        if (lockedOut(error)) return await this.putOffLockedTable(job, error);
        if (overBudget(error)) return await this.deferred(job, error);
        const outcome = await failJob(this.pool, this.id, job, message, this.options.settings.retryDelayMs);
        recordFinished(this.database, outcome);
        // Each attempt is in llm.queue; the log says so only of jobs that failed for good. Its message stays there: it
        // may quote the prompt, the answer or a value of the row (an answer the column's type does not take).
        const level = outcome === 'error' ? 'warn' : 'debug';
        this.log[level]({ job: id, table: `${tableSchema}.${tableName}`, attempt: job.attempts, outcome, sqlstate: sqlstateOf(error) }, 'llm.call job failed; its error is in llm.queue.last_error');
      } catch (recordError) {
        this.problem(recordError);
      }
    } finally {
      leave?.();
    }
  }

  /** The job's model call was refused for the owner's daily budget: it waits for the next UTC day, and so do the others. */
  private async deferred(job: Job, refusal: PgError): Promise<void> {
    this.budget.pause(refusal);
    recordFinished(this.database, await deferJob(this.pool, this.id, job, failure(refusal), nextUtcDay()));
  }

  /**
   * A lock the job's check or write-back needed was not had within lock_timeout: another session holds one on its
   * table (or on a table that took its name). No fault of the job's, and the table's other jobs would wait as long,
   * each holding a connection and a place among the claims meanwhile: the job and the table's pending jobs are put
   * off for a while, no attempt counted, and the worker goes on with other tables' jobs.
   */
  private async putOffLockedTable(job: Job, error: unknown): Promise<void> {
    const until = Date.now() + LOCKED_OUT_DELAY_MS;
    const table = `${job.tableSchema}.${job.tableName}`;
    const message = `could not lock its table within the worker's lock_timeout, another session holding a lock on it; tried again later, not counted as an attempt: ${failure(error)}`;
    // The other jobs of the table are put off once, by the first of its jobs to come here.
    const tablePutOff = (this.putOff.get(job.tableOid) ?? 0) > Date.now();
    if (!tablePutOff) this.putOff.set(job.tableOid, until);
    recordFinished(this.database, await deferJobs(this.pool, this.id, job, message, new Date(until), !tablePutOff));
    if (!tablePutOff) this.log.warn({ table, sqlstate: sqlstateOf(error), retryInMs: LOCKED_OUT_DELAY_MS }, "llm.call jobs of a table put off: its lock was not had within the worker's lock_timeout");
    for (const [oid, end] of this.putOff) if (end <= Date.now()) this.putOff.delete(oid);
  }

  /** Tables whose pending jobs were put off for a lock not had, by oid, and until when. */
  private readonly putOff = new Map<string, number>();

  /**
   * The owner of the tables the worker fills, its login role (claims take no job while it runs as another), as the
   * asker of the jobs' requests, as the owner's vectorizers' are (vectorizers.ts): its calls take that role's share of
   * the proxy's model calls, and count in its daily budget.
   */
  private tablesOwner(): Promise<string> {
    if (!this.owner) {
      const read = this.pool.query(`SELECT ${ASKER_SQL} AS asker`).then(({ rows }) => (rows[0] as { asker: string }).asker);
      // A failure is not kept: the next job asks again.
      read.catch(() => this.owner === read && (this.owner = undefined));
      this.owner = read;
    }
    return this.owner;
  }

  /** The jobs this worker runs or writes back: their leases are renewed, and its claims do not take them again. */
  private held(): string[] {
    return [...this.running.keys(), ...this.batches.finishing];
  }

  /**
   * Renews the leases of the jobs held. A job whose lease another worker took meanwhile is that worker's to run: its
   * model call here is stopped, and its place goes to the next job once it has settled (until then it stays held, so
   * that no claim of this worker takes it again). An answer already in is not written: a write-back writes only jobs
   * still this worker's.
   */
  private async renew(): Promise<void> {
    // The runs of the jobs as they are now: a job that ends meanwhile may be claimed again, by a run not lost.
    const runs = new Map(this.running);
    try {
      const lost = await renewLeases(this.pool, this.id, this.held(), this.options.settings.leaseMs);
      for (const id of lost) runs.get(id)?.abort(LEASE_LOST);
    } catch (error) {
      this.problem(error);
    }
  }

  private problem(error: unknown): void {
    const message = error instanceof Error ? error.message : String(error);
    if (message === this.lastProblem) return;
    this.lastProblem = message;
    const code = (error as { code?: string }).code;
    const advice =
      code === '42P01'
        ? 'llm.queue does not exist in this database yet: CREATE EXTENSION pg_llm through the proxy installs it'
        : code === '42501'
          ? `the worker's role lacks a privilege: it needs GRANT ${WORKER_PRIVILEGES} ON llm.queue, and connects as the role that owns the tables it fills`
          : 'llm.call worker cannot reach its queue; trying again';
    this.log.warn({ err: message }, advice);
  }
}

/** What llm.queue.last_error keeps of a failure: the message, and the hint of a PostgreSQL error when it has one. */
function failure(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const { hint } = error as { hint?: string };
  return hint ? `${error.message} (hint: ${hint})` : error.message;
}

/** A worker for each --worker database, started. */
export function startWorkers(settings: WorkerSettings, shared: Omit<WorkerOptions, 'url' | 'settings'>): QueueWorker[] {
  const { databases, ...rest } = settings;
  return databases.map((url) => {
    const worker = new QueueWorker({ ...shared, url, settings: rest });
    worker.start();
    return worker;
  });
}
