// The results of a pass's calls go to the session's results table (passes.ts) as they are computed, a batch at a
// time: a batch is sent once it holds STATEMENT_ANSWER_BYTES of JSON or BATCH_CALLS results, so the proxy holds about
// one batch of answers however many calls the statement makes, and no string or jsonb value grows with the
// statement (V8 refuses strings past about 512 MiB, jsonb values stop at 256 MiB).

import { PgError, SqlState } from '../../proxy/pg-error.js';
import { STATEMENT_ANSWER_BYTES } from './answer-budget.js';
import { check } from './calls.js';
import { jsonInTurns, type JsonBytes } from './json-in-turns.js';
import type { Passes } from './passes.js';
import type { Result } from './upstream-requests.js';

/** Small answers go in batches too, so that one INSERT stays a short piece of work. */
const BATCH_CALLS = 1000;
/** jsonb's limit of 268435455 bytes, less room for the key: one stored answer's JSON may take no more. */
const MAX_STORED_ANSWER_BYTES = 255 * 1024 ** 2;

export class ResultBatches {
  private entries: JsonBytes[] = [];
  private bytes = 0;
  /** The stores sent, in order. */
  private readonly sent: Array<Promise<Result>> = [];

  constructor(
    private readonly passes: Passes,
    private readonly execution: number,
  ) {}

  /**
   * Takes one call's result. A batch it fills is sent once the batch before it is stored: one batch is on its way
   * at a time, and the workers that find the next one full wait with it.
   */
  async add(key: string, value: unknown): Promise<void> {
    const entry = await storedEntry(key, value);
    this.entries.push(entry);
    this.bytes += entry.bytes;
    if (!this.full()) return;
    const before = this.sent.at(-1);
    if (before) check(await before);
    if (this.full() && this.sent.at(-1) === before) this.send();
  }

  /** Sends the last batch; the answer (the first failed store's, if one failed) comes with the next request's. */
  end(): Promise<Result> | undefined {
    if (this.entries.length > 0) this.send();
    return this.stored();
  }

  /** The answer to the batches sent so far: the first failed store's, else the last one's; undefined when none was sent. */
  stored(): Promise<Result> | undefined {
    if (this.sent.length === 0) return undefined;
    return Promise.all(this.sent).then((results) => results.find((result) => result.error || result.skipped) ?? results.at(-1)!);
  }

  private full(): boolean {
    return this.bytes >= STATEMENT_ANSWER_BYTES || this.entries.length >= BATCH_CALLS;
  }

  private send(): void {
    this.sent.push(this.passes.store(this.execution, this.entries));
    this.entries = [];
    this.bytes = 0;
  }
}

/** One result as a member of the JSON object a store takes: `"key":value`, as UTF-8. */
async function storedEntry(key: string, value: unknown): Promise<JsonBytes> {
  let json: JsonBytes;
  try {
    json = await jsonInTurns(value);
  } catch (error) {
    if (error instanceof RangeError) throw tooLarge();
    throw error;
  }
  if (json.bytes > MAX_STORED_ANSWER_BYTES) throw tooLarge();
  const member = Buffer.from(`${JSON.stringify(key)}:`, 'utf8');
  return { pieces: [member, ...json.pieces], bytes: member.length + json.bytes };
}

function tooLarge(): PgError {
  return new PgError(SqlState.ProgramLimitExceeded, `a statement's model answer exceeds the ${MAX_STORED_ANSWER_BYTES} bytes the proxy can store for one call`, {
    hint: "Chat answers stay far below it under the proxy's --max-response-bytes (and a model config's max_response_bytes); keep those low, or select the call as a whole output column of a SELECT, whose answers go straight to the client.",
  });
}
