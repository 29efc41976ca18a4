// Runs a parse of SQL text (PostgreSQL's parser, compiled to WebAssembly) where it cannot hold up other sessions.
// A small text is parsed at once, on the event loop. A big one (or one with much code) is parsed in a worker thread, one at a time, and the
// worker ends soon after the last: the parser's WebAssembly memory only ever grows, and goes only with its thread.
// The task's answer is what comes back (a plan, say), not the parse tree, unless the task returns that.
// The thread is shared by every session, so no text over MAX_PARSE_BYTES, or with more code than
// MAX_PARSE_CODE_BYTES, reaches it (its parse would take seconds and gigabytes), and its queue is served round-robin by
// login role, each with a few places only: a role's sessions share its places and its turns, so a role that opens many
// sessions holds up only its own statements.

import { AsyncLocalStorage } from 'node:async_hooks';
import { Worker } from 'node:worker_threads';
import { PgError } from '../../proxy/pg-error.js';
import { codeBytes } from './identifiers.js';

/**
 * Measured: PostgreSQL's parser (with the parse tree's trip through JSON) takes up to about 1.5 µs a byte on dense
 * expressions (0.5 µs on VALUES rows), so 16 KiB hold the event loop for about 25 ms at most. That holds for the text
 * parser.ts hands it, without the nested comments and long runs of operators its lexer reads over and over.
 */
export const INLINE_PARSE_BYTES = 16 * 1024;
/**
 * The most code (bytes outside literals and comments) in a text a parse task runs on the event loop. A task does more
 * than parse: an analysis scans the text into tokens as well (about twice the parse's time) and rewrites calls.
 * Measured on dense code: 4 kB took about 27 ms, 8 kB 40 ms and 16 kB some 100 ms, which held every session up that
 * long; literals cost next to nothing (16 kB of one took 1 ms).
 */
export const INLINE_CODE_BYTES = 4 * 1024;
/**
 * The biggest text the proxy parses. Measured: the parse of a dense 38 MiB statement took about 1.4 GB and 5 s,
 * and 114 MiB ran the parser's WebAssembly memory out; 8 MiB take about a second. Data that big belong in a bind
 * parameter, which the proxy never parses.
 */
export const MAX_PARSE_BYTES = 8 * 1024 * 1024;
/**
 * The most code (bytes outside literals and comments) in a text the proxy parses. Code is what a parse costs:
 * measured in the built proxy's thread on a busy 2-core host, dense VALUES expressions took 0.9 s for 64 kB, 1.5–2 s
 * for 128 kB and 2.5 s for 250 kB.
 */
export const MAX_PARSE_CODE_BYTES = 128 * 1024;
/** Big statements waiting for the worker; more are refused, so waiting texts cannot fill the memory. */
const QUEUE_LIMIT = 16;
/** Places in that queue one login role may hold (all its sessions together), so that it cannot fill the queue for the others. */
const ROLE_QUEUE_LIMIT = 2;
/** The worker's JavaScript heap (parse trees as JSON, then as objects): ample for MAX_PARSE_BYTES, not for the host. */
const WORKER_HEAP_MB = 1024;
/** How long the worker waits for more before it ends (starting one takes about half a second). */
const IDLE_MS = 1000;

/** A synchronous function of SQL text that an ES module exports, so that a worker thread can import and run it. */
export interface ParseTask<Result> {
  module: string;
  name: string;
  run(sql: string): Result;
}

export function parseTask<Result>(module: string, name: string, run: (sql: string) => Result): ParseTask<Result> {
  return { module, name, run };
}

/** The login role whose work runs in `work`: its parse tasks queue in that role's places. */
const roles = new AsyncLocalStorage<string>();

export function parsingFor<Result>(role: string, work: () => Result): Result {
  return roles.run(role, work);
}

/** Runs the task on the event loop for a small text, in the parser's worker thread for a big one. */
export async function runParseTask<Result>(task: ParseTask<Result>, sql: string): Promise<Result> {
  if (sql.length <= INLINE_CODE_BYTES / 3) return task.run(sql);
  const bytes = Buffer.byteLength(sql);
  if (bytes > MAX_PARSE_BYTES) throw new TooBigToParse(bytes);
  if (bytes <= INLINE_PARSE_BYTES && codeBytes(Buffer.from(sql, 'utf8')) <= INLINE_CODE_BYTES) return task.run(sql);
  // The thread counts a big text's code (over MAX_PARSE_CODE_BYTES, it refuses the text unparsed): that scan takes
  // some 10 ms a MiB, which would hold every session up.
  return runInParserThread(task, sql, MAX_PARSE_CODE_BYTES);
}

/**
 * Runs the task in the parser's worker thread whatever the text's size: for work that grows faster than its text.
 * `maxCode`: the most code the thread parses the text with, else it refuses it (TooBigToParse).
 */
export async function runInParserThread<Result>(task: ParseTask<Result>, sql: string, maxCode?: number): Promise<Result> {
  const bytes = Buffer.byteLength(sql);
  if (bytes > MAX_PARSE_BYTES) throw new TooBigToParse(bytes);
  return (await parserThread.run(roles.getStore(), { module: task.module, name: task.name, sql, maxCode })) as Result;
}

/** The text's code counted against `maxCode`, in the parser's thread: TooBigToParse when over. */
export function checkCode(sql: string, maxCode: number | undefined): void {
  if (maxCode === undefined) return;
  const text = Buffer.from(sql, 'utf8');
  const code = codeBytes(text);
  if (code > maxCode) throw new TooBigToParse(text.length, code);
}

export class TooBigToParse extends PgError {
  constructor(bytes: number, code?: number) {
    const size = code === undefined
      ? `${mib(bytes)} MiB; the limit is ${mib(MAX_PARSE_BYTES)} MiB`
      : `${kib(code)} kB of it outside literals and comments; the limit is ${kib(MAX_PARSE_CODE_BYTES)} kB`;
    super('54000', `the statement is too big for the proxy to parse (${size})`, {
      hint: 'The proxy parses statements that call LLM functions (and SQL given to or written by a model) itself; pass big values as bind parameters ($1) instead of writing them into the statement.',
    });
  }
}

function kib(bytes: number): string {
  return String(Math.ceil(bytes / 1024));
}

function mib(bytes: number): string {
  return (bytes / 1024 ** 2).toFixed(1).replace(/\.0$/, '');
}

/** Work of no session (the background worker's) has no role: it shares one key, and is bounded by its own pool. */
type Role = string | undefined;

/** What the thread is sent: the task's module and function, the text, and the most code it parses the text with. */
export interface ThreadJob {
  module: string;
  name: string;
  sql: string;
  maxCode?: number;
}

interface Job extends ThreadJob {
  resolve(result: unknown): void;
  reject(error: Error): void;
}

/** A PgError thrown in the thread keeps its SQLSTATE and fields on the way back; any other error, its message. */
export type ThreadError = { message: string; sqlstate?: string; detail?: string; hint?: string };
type Reply = { result: unknown } | { error: ThreadError };

class ParserThread {
  /** Each role's waiting jobs. */
  private readonly waiting = new Map<Role, Job[]>();
  private size = 0;
  /**
   * When each role was last served (a count of jobs): the one served longest ago goes first. Forgotten once the
   * thread is idle, so that it holds only the roles of one busy spell.
   */
  private readonly served = new Map<Role, number>();
  private jobs = 0;
  private running: Job | undefined;
  private worker: Worker | undefined;
  private idle: NodeJS.Timeout | undefined;

  run(role: Role, request: ThreadJob): Promise<unknown> {
    const own = this.waiting.get(role)?.length ?? 0;
    if (this.size >= QUEUE_LIMIT || (role !== undefined && own >= ROLE_QUEUE_LIMIT)) {
      return Promise.reject(
        new PgError('53000', 'too many large statements are waiting for the proxy to parse them', {
          hint: `Statements that mention LLM functions with over ${INLINE_PARSE_BYTES / 1024} kB of text or ${INLINE_CODE_BYTES / 1024} kB of code are parsed one at a time, a few per role; retry shortly.`,
        }),
      );
    }
    return new Promise((resolve, reject) => {
      const queue = this.waiting.get(role) ?? [];
      queue.push({ ...request, resolve, reject });
      this.waiting.set(role, queue);
      this.size++;
      this.next();
    });
  }

  /** The first job of the waiting role served longest ago (or never). */
  private take(): Job | undefined {
    // Roles are compared by their entries: the background worker's key, undefined, is a role too.
    let chosen: [Role, Job[]] | undefined;
    for (const entry of this.waiting) {
      if (chosen === undefined || (this.served.get(entry[0]) ?? -1) < (this.served.get(chosen[0]) ?? -1)) chosen = entry;
    }
    if (chosen === undefined) return undefined;
    const [role, queue] = chosen;
    const job = queue.shift()!;
    if (queue.length === 0) this.waiting.delete(role);
    this.served.set(role, this.jobs++);
    this.size--;
    return job;
  }

  private next(): void {
    if (this.running) return;
    clearTimeout(this.idle);
    this.running = this.take();
    if (!this.running) {
      this.served.clear();
      this.idle = setTimeout(() => this.stop(), IDLE_MS).unref();
      return;
    }
    this.worker ??= this.start();
    const { module, name, sql, maxCode } = this.running;
    this.worker.postMessage({ module, name, sql, maxCode } satisfies ThreadJob);
  }

  private start(): Worker {
    const worker = new Worker(new URL(`./parse-thread${extension(import.meta.url)}`, import.meta.url), {
      resourceLimits: { maxOldGenerationSizeMb: WORKER_HEAP_MB },
    });
    worker.unref();
    worker.on('message', (reply: Reply) => this.finish('error' in reply ? errorOf(reply.error) : undefined, 'result' in reply ? reply.result : undefined));
    // A reply that cannot be read back here (a parse tree nested deeper than this thread's stack allows) would
    // otherwise leave its job, and every job queued after it, waiting for good.
    worker.on('messageerror', () => this.finish(new PgError('54001', 'the statement is nested too deeply for the proxy to parse'), undefined));
    worker.on('error', (error) => this.lost(worker, error));
    worker.on('exit', (code) => this.lost(worker, new Error(`the parser's thread ended (exit code ${code})`)));
    return worker;
  }

  private stop(): void {
    void this.worker?.terminate();
    this.worker = undefined;
  }

  private finish(error: Error | undefined, result: unknown): void {
    const job = this.running!;
    this.running = undefined;
    if (error) job.reject(error);
    else job.resolve(result);
    this.next();
  }

  /** A thread that failed (out of memory, say) fails its job; the next job gets a new thread. */
  private lost(worker: Worker, error: Error): void {
    if (worker !== this.worker) return;
    this.worker = undefined;
    if (this.running) this.finish(new PgError('54000', `the proxy could not parse the statement: ${error.message}`), undefined);
  }
}

export function errorOf({ message, sqlstate, detail, hint }: ThreadError): Error {
  return sqlstate ? new PgError(sqlstate, message, { ...(detail ? { detail } : {}), ...(hint ? { hint } : {}) }) : new Error(message);
}

/** .ts where the sources run as they are (the tests), .js where they are built. */
export function extension(url: string): string {
  return url.slice(url.lastIndexOf('.'));
}

const parserThread = new ParserThread();
