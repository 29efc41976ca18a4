// Reads a statement sends ahead of the calls that will ask them, so that they travel in a round trip already made
// (a one-row projection's, with its arguments: projection.ts). A call takes the answer of a read ahead only where
// its own query is the very same statement with the very same parameters, read in its statement's transaction;
// any other query it sends itself. Kept for one statement (calls.ts's scope).

import type { Result, UpstreamRequests } from './upstream-requests.js';

export class ReadsAhead {
  private readonly reads = new Map<string, Promise<Result>>();

  constructor(private readonly requests: UpstreamRequests) {}

  /** Sends the query, unflushed: it goes with what is flushed next. */
  read(sql: string, parameters: Array<string | null>): void {
    const key = keyOf(sql, parameters);
    if (!this.reads.has(key)) this.reads.set(key, this.requests.statement(sql, parameters));
  }

  /** The answer of the read made ahead of this query, if one was. */
  answer(sql: string, parameters: Array<string | null>): Promise<Result> | undefined {
    return this.reads.get(keyOf(sql, parameters));
  }
}

function keyOf(sql: string, parameters: Array<string | null>): string {
  return JSON.stringify([sql, parameters]);
}
