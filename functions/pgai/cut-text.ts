// Where a text is cut into chunks (text-splitter.ts) for ai.chunk_text, ai.chunk_text_recursively and the
// vectorizers' worker. A cut sure to be quick (literal separators, found by string search, in a text short for their
// number) runs at once, on the event loop every session shares; any other runs in a thread of a small pool, and the
// thread is ended when the cut takes longer than its time limit or its caller gives up (a cancel, the worker stopping).
//
// A regular expression always goes to a thread: V8 runs the caller's pattern by backtracking, with no bound on its
// time ((a|a)+$ on 30 characters takes about a minute, twice as long for each one more), and even a pattern that
// does not backtrack splits a text in time growing with its square (.*y|x: each match first tries .*y to the end).
// V8's linear-time engine (the 'l' flag, --enable-experimental-regexp-engine) is no way out on Node 22: it refuses
// the 'u' flag (code points, as Python's re sees them) and lookaheads, both of which pgai's separators may use, and
// its split of 4,000 characters by .*y|x was measured at 9 to 23 s on this project's 2-core host, the time growing
// with the cube of the text.
//
// Measured on the same busy host: a cut in a thread costs about 0.1 ms more than at once, a thread starts in some
// hundreds of ms, ending a thread stuck in a regular expression takes about 0.1 s, and a 2 MB text is cut by a
// usual pattern ([.!?]\s+, or the default separators) in 0.1 to 0.5 s, of which the event loop spends some 20 ms
// taking its chunks (0.14 s for 2 million chunks of a character, whose cut took 9 s with the test suite running
// beside it: such a cut may now meet CUT_CEILING_MS on a host that busy, and is refused as too slow).
//
// The threads are shared by login role (shareOf, as the model-call slots are): a role's cuts hold at most all the
// threads but one, so that another role's cut never waits for the time limits of the first role's, however many
// sessions it cuts from; the free threads go by turns to the roles with cuts waiting.

import { Worker } from 'node:worker_threads';
import { PgError } from '../../proxy/pg-error.js';
import { shareOf, type Asker } from '../../src/providers/asker.js';
import { errorOf, extension, type ThreadError } from '../../src/sql/parse-task.js';
import { cut, TooManyChunks, type Cut } from './text-splitter.js';

/**
 * A cut's time limit: a second, and 10 µs a character of the text, at most CUT_CEILING_MS. A cut that does not
 * backtrack takes time linear in the text: on the busy 2-core host, 2.6 µs a character (a text of 1 MB with no
 * separator, cut into a character or two a chunk), over 5 µs with the test suite running beside it; a backtracking
 * pattern is stopped within a second on a short text. The time counts from when the thread has the text, its start
 * (some hundreds of ms) left out.
 */
export const CUT_BASE_MS = 1000;
export const CUT_MS_PER_CHARACTER = 0.01;
/**
 * The longest a cut may hold a thread, whatever its text's length: of a text of MAX_INPUT (2 MiB) characters, a cut
 * by \n\n, [.]\s* or the default separators took 5 to 350 ms in a thread, and the slowest found, into 2 million
 * chunks of a character each, 0.6 to 2 s idle and 2.7 s with three processes spinning beside it on the 2-core host.
 */
export const CUT_CEILING_MS = 5000;
/** Characters times separators that a cut at once may search: some milliseconds of the event loop's time. */
export const INLINE_WORK = 256 * 1024;
/** The most characters of the separators together; more would only be a large copy into the thread. */
export const MAX_SEPARATOR_CHARACTERS = 64 * 1024;
const THREADS = 2;
/** The threads one login role's cuts may hold at once: one is always left for another role's. */
const ROLE_THREADS = THREADS - 1;
/** Ample for a text of MAX_INPUT characters cut into chunks of ten times its size together, far from the host's memory. */
const THREAD_HEAP_MB = 256;
/** How long an idle thread stays while no cut waits; starting one takes some hundreds of ms. */
const IDLE_MS = 2000;

/** A cut stopped at its time limit. */
export class CutTooSlow extends PgError {}

/** What a thread says: that it is ready for cuts (its modules loaded, which the time limit should not count), or a cut's outcome. */
export type CutReply = 'ready' | { chunks: string[] } | { error: ThreadError; tooManyChunks: boolean };

interface Job {
  cut: Cut;
  /** Whose turn the cut takes: its login role's (shareOf). */
  share: Asker;
  settle(outcome: { chunks: string[] } | { error: Error }): void;
}

interface Thread {
  worker: Worker;
  ready: boolean;
  job?: Job;
  deadline?: NodeJS.Timeout;
  idle?: NodeJS.Timeout;
}

const threads = new Set<Thread>();
const waiting: Job[] = [];
/** Each share's cuts in a thread, and when it was last given one (a count of the threads given), while it has cuts running or waiting. */
const shares = new Map<Asker, { running: number; given: number }>();
let given = 0;

/**
 * The text's chunks. The asker (asked only when the cut goes to a thread) is whose turn the cut takes, its login
 * role's: one role's slow cuts do not make another role's wait behind them.
 */
export async function cutText(request: Cut, asker: () => Promise<Asker>, signal: AbortSignal): Promise<string[]> {
  const separators = ([] as string[]).concat(request.separators);
  if (separators.reduce((sum, separator) => sum + separator.length, 0) > MAX_SEPARATOR_CHARACTERS) {
    throw new PgError('54000', `the separators are longer than ${MAX_SEPARATOR_CHARACTERS} characters together`);
  }
  if (!request.options.isSeparatorRegex && request.text.length * Math.max(1, separators.length) <= INLINE_WORK) return cut(request);
  const share = shareOf(await asker());
  signal.throwIfAborted();
  return new Promise<string[]>((resolve, reject) => {
    const job: Job = {
      cut: request,
      share,
      settle: (outcome) => {
        signal.removeEventListener('abort', abandon);
        if ('chunks' in outcome) resolve(outcome.chunks);
        else reject(outcome.error);
      },
    };
    const abandon = (): void => {
      const place = waiting.indexOf(job);
      if (place >= 0) waiting.splice(place, 1);
      const thread = [...threads].find((candidate) => candidate.job === job);
      if (thread) end(thread);
      else forgetIdle(job.share);
      job.settle({ error: signal.reason as Error });
    };
    signal.addEventListener('abort', abandon, { once: true });
    waiting.push(job);
    dispatch();
  });
}

/** Cuts being made in a thread or waiting for one. */
export function cutsHeld(): number {
  return waiting.length + [...threads].filter((thread) => thread.job).length;
}

/** Threads started and not yet ready for cuts. */
export function threadsStarting(): number {
  return [...threads].filter((thread) => !thread.ready).length;
}

/**
 * Gives waiting cuts to the ready threads, and starts threads for those that would still wait: also for a role's
 * cuts that may not have one now, so that another role's cut, when it comes, finds a thread ready.
 */
function dispatch(): void {
  while (waiting.length > 0) {
    const idle = [...threads].find((thread) => thread.ready && !thread.job);
    if (idle) {
      const job = fairest();
      if (!job) return;
      run(idle, job);
      continue;
    }
    if (threads.size >= THREADS || threadsStarting() >= waiting.length) return;
    start();
  }
}

function run(thread: Thread, job: Job): void {
  clearTimeout(thread.idle);
  thread.job = job;
  const share = shares.get(job.share) ?? { running: 0, given: 0 };
  shares.set(job.share, { running: share.running + 1, given: given++ });
  const limit = Math.min(CUT_BASE_MS + job.cut.text.length * CUT_MS_PER_CHARACTER, CUT_CEILING_MS);
  thread.deadline = setTimeout(() => finish(thread, { error: tooSlow(job.cut, limit) }, true), limit).unref();
  thread.worker.postMessage(job.cut);
}

/**
 * The first waiting cut of the shares with the fewest cuts running, and of those, the one given a thread longest ago;
 * none while every share waiting holds ROLE_THREADS threads.
 */
function fairest(): Job | undefined {
  const share = (job: Job) => shares.get(job.share) ?? { running: 0, given: -1 };
  let chosen = -1;
  for (let i = 0; i < waiting.length; i++) {
    const candidate = share(waiting[i]!);
    if (candidate.running >= ROLE_THREADS) continue;
    const best = chosen < 0 ? undefined : share(waiting[chosen]!);
    if (!best || candidate.running < best.running || (candidate.running === best.running && candidate.given < best.given)) chosen = i;
  }
  return chosen < 0 ? undefined : waiting.splice(chosen, 1)[0];
}

function start(): Thread {
  const worker = new Worker(new URL(`./cut-thread${extension(import.meta.url)}`, import.meta.url), {
    resourceLimits: { maxOldGenerationSizeMb: THREAD_HEAP_MB },
  });
  worker.unref();
  const thread: Thread = { worker, ready: false };
  threads.add(thread);
  worker.on('message', (reply: CutReply) => {
    if (reply !== 'ready') return finish(thread, 'chunks' in reply ? reply : { error: revived(reply) }, false);
    thread.ready = true;
    rest(thread);
    dispatch();
  });
  worker.on('error', (error) => lost(thread, error as Error & { code?: string }));
  worker.on('exit', () => lost(thread, new Error('the thread ended')));
  return thread;
}

/**
 * The job's outcome; the thread goes back to the pool, or is ended when it may still be cutting. A thread's answer
 * may come after its job was given up, and is then dropped.
 */
function finish(thread: Thread, outcome: { chunks: string[] } | { error: Error }, ending: boolean): void {
  const job = thread.job;
  if (!job) return;
  release(thread);
  if (ending) end(thread);
  else rest(thread);
  job.settle(outcome);
  dispatch();
}

/** A thread without a cut ends after IDLE_MS, unless it is given one or cuts wait (for another role's cut to come). */
function rest(thread: Thread): void {
  thread.idle = setTimeout(() => (waiting.length > 0 ? rest(thread) : end(thread)), IDLE_MS).unref();
}

function release(thread: Thread): void {
  const { share } = thread.job!;
  thread.job = undefined;
  clearTimeout(thread.deadline);
  shares.get(share)!.running--;
  forgetIdle(share);
}

function forgetIdle(share: Asker): void {
  if (shares.get(share)?.running === 0 && !waiting.some((job) => job.share === share)) shares.delete(share);
}

function end(thread: Thread): void {
  if (!threads.delete(thread)) return;
  if (thread.job) release(thread);
  clearTimeout(thread.idle);
  void thread.worker.terminate();
  dispatch();
}

/**
 * A thread that ran out of memory (or failed otherwise) fails its cut only, and the next cut gets a new one; a thread
 * that failed before it was ready fails the cuts waiting, which would otherwise wait for ever on threads that never start.
 */
function lost(thread: Thread, error: Error & { code?: string }): void {
  if (!threads.has(thread)) return;
  const failed = thread.ready ? [thread.job] : waiting.splice(0);
  end(thread);
  for (const job of failed) {
    if (!job) continue;
    forgetIdle(job.share);
    job.settle({
      error:
        error.code === 'ERR_WORKER_OUT_OF_MEMORY'
          ? new PgError('54000', `cutting the text took more than the ${THREAD_HEAP_MB} MB the proxy allows it`, { hint: 'Cut it in parts first (substring), and chunk each.' })
          : new PgError('XX000', `the thread cutting the text failed: ${error.message}`),
    });
  }
}

function revived(reply: { error: ThreadError; tooManyChunks: boolean }): Error {
  const { message, sqlstate, hint } = reply.error;
  return reply.tooManyChunks ? new TooManyChunks(sqlstate!, message, hint === undefined ? {} : { hint }) : errorOf(reply.error);
}

function tooSlow({ options }: Cut, limitMs: number): CutTooSlow {
  const seconds = (limitMs / 1000).toFixed(1);
  return options.isSeparatorRegex
    ? new CutTooSlow('2201B', `the separator, a regular expression, took more than ${seconds} s to cut the text`, {
        hint: 'Separators run with a time limit, by backtracking: a repeat whose pieces can match the same characters in more than one way (nested or alternated, as (a+)+ or (a|a)+) takes time exponential in the text. Write the separator so that a text matches it in one way only, or cut a long text in parts first (substring).',
      })
    : new CutTooSlow('54000', `cutting the text took more than ${seconds} s`, { hint: 'Cut it in parts first (substring), or give fewer separators.' });
}
