// The answer to a client's Query or FunctionCall that ends the proxy's transaction block (execution.ts:
// relayEndingOwnBlock): relayed as it comes, but for its ReadyForQuery, which tells of the block the proxy still has
// to end; the client gets the status after that instead.

import { readTransactionStatus } from '../../proxy/backend-read.js';
import { BackendMessage, type TransactionStatus } from '../../proxy/protocol.js';
import type { ReplySink } from '../../proxy/replies-owed.js';

export class ReadyHeldBack implements ReplySink {
  /** The status the server's ReadyForQuery told; undefined when the server skipped the request. */
  readonly status: Promise<TransactionStatus | undefined>;
  readonly dataRowReader?: ReplySink['dataRowReader'];
  readonly copyDataReader?: ReplySink['copyDataReader'];
  private told: TransactionStatus | undefined;
  private resolve!: (status: TransactionStatus | undefined) => void;

  constructor(private readonly relay: ReplySink) {
    this.status = new Promise((resolve) => (this.resolve = resolve));
    this.dataRowReader = relay.dataRowReader?.bind(relay);
    this.copyDataReader = relay.copyDataReader?.bind(relay);
  }

  message(type: number, frame: Buffer): void {
    if (type === BackendMessage.ReadyForQuery) this.told = readTransactionStatus(frame);
    else this.relay.message(type, frame);
  }

  complete(skipped: boolean): void {
    this.relay.complete(skipped);
    this.resolve(skipped ? undefined : this.told);
  }
}
