// Rows a statement's calls write and nobody reads back (audit and trace rows: CallContext.record). In a statement
// whose answer the proxy holds until they are in (a one-row projection: held-answer.ts), each is sent without
// waiting, and is answered with what ends the statement, a round trip saved per call; a write that fails fails the
// statement with its error, as it did the call that waited for it.

import type { Result, UpstreamRequests } from './upstream-requests.js';

export class DeferredWrites {
  private readonly written: Array<Promise<Result>> = [];

  constructor(private readonly requests: UpstreamRequests) {}

  /** Sends the statement, unflushed: what the statement sends next, or its end, carries it. */
  write(sql: string, parameters: Array<string | null>): void {
    this.written.push(this.requests.statement(sql, parameters));
  }

  /**
   * Once every write is answered (something after them was flushed): the server's error of the first that failed,
   * undefined when all went in. The writes after it were skipped, and so was what followed them.
   */
  async failure(): Promise<Map<string, string> | undefined> {
    for (const written of this.written) {
      const { error } = await written;
      if (error) return error;
    }
    return undefined;
  }
}
