// The calls of the rows a projection (projection.ts) has fetched and not yet sent. A call is computed once while
// rows waiting need it, and forgotten with the last of them, so the proxy holds answers for the rows in flight, not
// for the statement. Calls start in the order rows ask for them, at most `concurrency` at once, and none starts
// while the answers waiting to be sent take STATEMENT_ANSWER_BYTES, unless none is running: the oldest row's calls
// were asked for before any other row's, so they are running or next in line, and its row always gets through.

import { STATEMENT_ANSWER_BYTES } from './answer-budget.js';
import type { Call } from './calls.js';

interface Entry {
  result: Promise<unknown>;
  /** Rows waiting that need the result. */
  rows: number;
  bytes: number;
}

export class CallsInFlight {
  /** Calls asked for so far, counting a call again when it is asked for after it was forgotten. */
  asked = 0;
  private readonly entries = new Map<string, Entry>();
  private readonly queue: Array<() => void> = [];
  private running = 0;
  private held = 0;

  constructor(
    private readonly run: (call: Call) => Promise<unknown>,
    private readonly concurrency: number,
  ) {}

  /** The result of a call for one more row, which lets go of it with release() once it is sent. */
  result(key: string, call: Call): Promise<unknown> {
    let entry = this.entries.get(key);
    if (!entry) {
      entry = this.start(call);
      this.entries.set(key, entry);
      this.asked++;
    }
    entry.rows++;
    return entry.result;
  }

  release(key: string): void {
    const entry = this.entries.get(key)!;
    if (--entry.rows > 0) return;
    this.entries.delete(key);
    this.held -= entry.bytes;
    this.startWaiting();
  }

  /** Resolves once every call rows still wait for has settled. */
  async settled(): Promise<void> {
    await Promise.allSettled([...this.entries.values()].map((entry) => entry.result));
  }

  private start(call: Call): Entry {
    const entry: Entry = { result: Promise.resolve(), rows: 0, bytes: 0 };
    entry.result = new Promise((resolve, reject) => {
      this.queue.push(() => {
        this.running++;
        this.run(call)
          .then((value) => {
            entry.bytes = answerBytes(value);
            this.held += entry.bytes;
            resolve(value);
          }, reject)
          .finally(() => {
            this.running--;
            this.startWaiting();
          });
      });
    });
    // Failures reach the statement through `run`; a row not reached yet must not leave them unhandled.
    entry.result.catch(() => undefined);
    this.startWaiting();
    return entry;
  }

  private startWaiting(): void {
    while (this.queue.length > 0 && this.running < this.concurrency && (this.held < STATEMENT_ANSWER_BYTES || this.running === 0)) {
      this.queue.shift()!();
    }
  }
}

/** About what an answer takes while it waits: its text's length, or its JSON's (encoding it for the row fails alike). */
function answerBytes(value: unknown): number {
  if (typeof value === 'string') return value.length;
  try {
    return JSON.stringify(value)?.length ?? 0;
  } catch {
    return STATEMENT_ANSWER_BYTES;
  }
}
