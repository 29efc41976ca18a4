// The worker threads that parse big provider answers and write big request bodies (parse-worker.ts), off the event
// loop every session shares.
// Each has a heap of its own with a bound, so an answer that needs more fails its own call and nothing else. The
// answers waiting for a thread are bounded in number and bytes, each role (asker.ts) may hold only a few places and a
// share of the bytes, and the roles with jobs waiting take turns at the threads, so that one role's server (or its
// megabytes of prompts) cannot make every other role's big answers wait or fail.

import { Worker } from 'node:worker_threads';
import { PgError } from '../../../proxy/pg-error.js';
import { ownTurn } from '../../event-loop-turns.js';
import { errorOf, extension } from '../../sql/parse-task.js';
import { type Asker, shareOf } from '../asker.js';
import { CallLimit } from '../call-limit.js';
import type { JsonLimits } from '../../json-structure.js';
import type { EncodeRequest, ParseReply, ParseRequest, ValueRequest } from './parse-worker.js';

/** What a thread sends back: the part of the answer its shape describes, and the whole when it was asked for, as JSON (UTF-8). */
export interface ParsedAnswer {
  json: Uint8Array;
  whole?: Uint8Array;
}

const THREADS = 2;
/** Ample for the biggest answer the caps let through (128 MiB of embeddings), far from the host's memory. */
export const THREAD_HEAP_MB = 512;
/** How long an idle thread stays (starting one takes some tens of ms); its heap goes with it. */
const IDLE_MS = 2000;
/**
 * A role's jobs may take `bytesPerAsker` of the `bytes` (its first job any of them): eight calls of 31.5 MB of
 * arguments each took 252 MiB, and another role's call failed (review R3). Half leaves a role four such calls.
 */
export const QUEUE_LIMITS = { answers: 32, bytes: 256 * 1024 ** 2, perAsker: 8, bytesPerAsker: 128 * 1024 ** 2 };

type ThreadRequest = ParseRequest | EncodeRequest | ValueRequest;
type Done = Exclude<ParseReply, { error: unknown }>;

interface Job {
  request: ThreadRequest;
  resolve(done: Done): void;
  reject(error: Error): void;
}

interface Thread {
  worker: Worker;
  job?: Job;
  idle?: NodeJS.Timeout;
}

const threads = new Set<Thread>();
/** A place at the threads: the roles with jobs waiting take turns, one job each (call-limit.ts). */
const threadTurns = new CallLimit(THREADS);
/** Nothing calls a job off once it is queued: it runs, and its place goes when it is done. */
const UNCANCELLED = new AbortController().signal;
const held = { answers: 0, bytes: 0, byAsker: new Map<Asker, { jobs: number; bytes: number }>() };

/** The answer's text, parsed in a thread. */
export async function parseInThread(request: ParseRequest, asker: Asker): Promise<ParsedAnswer> {
  return (await inThread(request, request.text.byteLength, asker)) as ParsedAnswer;
}

/**
 * The answer's text, parsed in a thread, its pruned JSON as a string: a structured clone of a string is one copy,
 * where bytes handed to an SDK's text() are gathered, copied and decoded on the event loop (40 ms for 7 MB).
 */
export async function parseInThreadToString(request: ParseRequest, asker: Asker): Promise<string> {
  return ((await inThread({ ...request, asString: true }, request.text.byteLength, asker)) as { string: string }).string;
}

/** A request body of about `chars` characters of strings, written as JSON (UTF-8) in a thread. */
export async function encodeInThread(value: unknown, chars: number, asker: Asker): Promise<Uint8Array> {
  return ((await inThread({ encode: value }, chars, asker)) as ParsedAnswer).json;
}

/** JSON text (UTF-8, moved to the thread) parsed within `limits` in a thread: its value, or which limit it passed. */
export async function valueInThread(text: Uint8Array, limits: JsonLimits, asker: Asker): Promise<{ parsed: unknown } | { exceeded: string }> {
  return (await inThread({ value: text, limits }, text.byteLength, asker)) as { parsed: unknown } | { exceeded: string };
}

async function inThread(request: ThreadRequest, bytes: number, asker: Asker): Promise<Done> {
  // A login role's places are all its sessions', whichever role and database each is in (a share per database would
  // be a share per CREATE DATABASE): one login's 14 sessions in two databases filled the queue (review N).
  const share = shareOf(asker);
  const own = held.byAsker.get(share) ?? { jobs: 0, bytes: 0 };
  if (held.answers >= QUEUE_LIMITS.answers || held.bytes + bytes > QUEUE_LIMITS.bytes) throw queueFull('proxy', request);
  if (own.jobs >= QUEUE_LIMITS.perAsker || (own.jobs > 0 && own.bytes + bytes > QUEUE_LIMITS.bytesPerAsker)) throw queueFull('role', request);
  held.answers++;
  held.bytes += bytes;
  held.byAsker.set(share, { jobs: own.jobs + 1, bytes: own.bytes + bytes });
  try {
    const leaveThread = await threadTurns.acquire(UNCANCELLED, share);
    try {
      // Posting megabytes of a request takes a while (structured cloning), as does taking in a thread's reply, and
      // two or three of those in one turn of the event loop held every session for a quarter of a second (review R3).
      await ownTurn();
      return await new Promise<Done>((resolve, reject) => post({ request, resolve, reject }));
    } finally {
      leaveThread();
    }
  } finally {
    held.answers--;
    held.bytes -= bytes;
    const left = held.byAsker.get(share)!;
    if (left.jobs === 1) held.byAsker.delete(share);
    else held.byAsker.set(share, { jobs: left.jobs - 1, bytes: left.bytes - bytes });
  }
}

/** Big answers being parsed or waiting for a thread. */
export function answersHeld(): number {
  return held.answers;
}

function queueFull(whose: 'proxy' | 'role', request: ThreadRequest): PgError {
  const [what, waiting] = 'encode' in request ? ['model provider requests', 'written'] : 'value' in request ? ["calls' arguments", 'parsed'] : ['model provider answers', 'parsed'];
  const message = `too many big ${what}${whose === 'role' ? ' of this role' : ''} are waiting to be ${waiting}`;
  return new PgError('53000', message, {
    hint: `Retry shortly. Big answers and calls' arguments are parsed, and big requests written, in ${THREADS} threads; at most ${QUEUE_LIMITS.answers} (${QUEUE_LIMITS.bytes / 1024 ** 2} MiB) may wait, ${QUEUE_LIMITS.perAsker} (${QUEUE_LIMITS.bytesPerAsker / 1024 ** 2} MiB past the first) of them a login role's.`,
  });
}

/** Posts the job to a free thread: one is free or may be started, as each job holds a place at the threads. */
function post(job: Job): void {
  const thread = [...threads].find((candidate) => !candidate.job) ?? start();
  clearTimeout(thread.idle);
  thread.job = job;
  const { request } = job;
  const moved = 'text' in request ? request.text : 'value' in request ? request.value : undefined;
  thread.worker.postMessage(request, moved ? [moved.buffer as ArrayBuffer] : []);
}

function start(): Thread {
  const worker = new Worker(new URL(`./parse-worker${extension(import.meta.url)}`, import.meta.url), {
    resourceLimits: { maxOldGenerationSizeMb: THREAD_HEAP_MB },
  });
  worker.unref();
  const thread: Thread = { worker };
  threads.add(thread);
  worker.on('message', (reply: ParseReply) => {
    const job = thread.job!;
    thread.job = undefined;
    if ('error' in reply) job.reject(errorOf(reply.error));
    else job.resolve(reply);
    thread.idle = setTimeout(() => (threads.delete(thread), void worker.terminate()), IDLE_MS).unref();
  });
  worker.on('error', (error) => lost(thread, error as Error & { code?: string }));
  worker.on('exit', () => lost(thread, new Error('the thread ended')));
  return thread;
}

/** A thread that ran out of memory (or failed otherwise) fails its answer only; the next answer gets a new one. */
function lost(thread: Thread, error: Error & { code?: string }): void {
  if (!threads.delete(thread)) return;
  clearTimeout(thread.idle);
  const job = thread.job;
  if (job) {
    job.reject(
      error.code === 'ERR_WORKER_OUT_OF_MEMORY'
        ? 'encode' in job.request || 'value' in job.request
          ? new PgError('53200', `${'encode' in job.request ? 'writing the request to the model provider' : "parsing a call's arguments"} took more than the ${THREAD_HEAP_MB} MB the proxy allows it`)
          : new PgError('53200', `parsing the model provider's answer took more than the ${THREAD_HEAP_MB} MB the proxy allows it`, {
              hint: "Check the model's base_url; for embeddings, a smaller embedding_batch_size makes smaller answers.",
            })
        : new PgError('XX000', `the thread parsing the model provider's answer failed: ${error.message}`),
    );
  }
}
