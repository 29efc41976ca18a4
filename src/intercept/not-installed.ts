// The answer to a Parse of a statement that calls an LLM function in a database without its extension (pg_llm, or
// ai for pgai's): PostgreSQL can only say the function does not exist; the client is told why, and how to install it.

import type { ExtensionName } from '../../functions/registry.js';
import { errorResponse } from '../../proxy/backend-write.js';
import type { SessionIo } from '../../proxy/interceptor.js';
import { PgError } from '../../proxy/pg-error.js';
import { BackendMessage } from '../../proxy/protocol.js';
import type { ReplySink } from '../../proxy/replies-owed.js';

export class NotInstalled implements ReplySink {
  errored = false;

  constructor(
    private readonly io: SessionIo,
    private readonly extension: ExtensionName,
    /** Message types the client must not see (a simple Query's client expects no ParseComplete). */
    private readonly drop: ReadonlySet<number> = new Set(),
  ) {}

  message(type: number, frame: Buffer): void {
    if (type !== BackendMessage.ErrorResponse) {
      if (!this.drop.has(type)) this.io.writeToClient(Buffer.from(frame));
      return;
    }
    this.errored = true;
    this.io.writeToClient(
      errorResponse(
        new PgError('42883', `${this.extension} is not installed in this database`, {
          hint: `Run CREATE EXTENSION ${this.extension} through the proxy${this.extension === 'pg_llm' ? ', or pg-llm-proxy migrate --database-url URL' : ''}.`,
        }),
      ),
    );
  }

  complete(): void {}
}
