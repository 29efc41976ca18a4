// The replies still owed to the client: every Query, FunctionCall and Sync the client sent is answered by exactly
// one ReadyForQuery, in order. The session is idle, and may be closed or spoken to by the proxy, only when nothing
// is owed.

import { FrontendMessage } from './protocol.js';

export class RepliesOwed {
  private readyForQueryOwed = 0;
  /** Extended-protocol messages sent since the last Sync: the client is mid-batch even if nothing is owed yet. */
  private unsyncedBatch = false;

  /** Accounts for a message the client sent to the upstream. */
  sent(type: number): void {
    switch (type) {
      case FrontendMessage.Query:
      case FrontendMessage.FunctionCall:
      case FrontendMessage.Sync:
        this.readyForQueryOwed++;
        this.unsyncedBatch = false;
        return;
      case FrontendMessage.Terminate:
        return;
      default:
        this.unsyncedBatch = true;
    }
  }

  /** Accounts for a ReadyForQuery the upstream sent to the client. */
  readyForQuery(): void {
    if (this.readyForQueryOwed > 0) this.readyForQueryOwed--;
  }

  get idle(): boolean {
    return this.readyForQueryOwed === 0 && !this.unsyncedBatch;
  }
}
