// How the client learns of an error the proxy raised (a failed model call, a cancel): the server raises it too,
// through _pg_llm_catalog.raise_error, which fails the transaction (and skips the rest of the client's batch) as
// PostgreSQL would; the server's answer is swallowed and the proxy's own error, SQLSTATE and all, goes in its place.

import { errorResponse } from '../../proxy/backend-write.js';
import type { SessionIo } from '../../proxy/interceptor.js';
import { PgError } from '../../proxy/pg-error.js';
import { BackendMessage } from '../../proxy/protocol.js';
import type { ReplySink } from '../../proxy/replies-owed.js';
import { STATEMENT_REQUESTS, type UpstreamRequests } from './upstream-requests.js';

export async function raiseThroughUpstream(io: SessionIo, requests: UpstreamRequests, error: unknown): Promise<void> {
  const pgError = error instanceof PgError ? error : new PgError('XX000', `pg_llm proxy: ${(error as Error).message}`);
  if (io.owed.skipping) await requests.sync();
  const substitute = new ErrorSubstitute(io, pgError);
  requests.statementTo(substitute, 'SELECT _pg_llm_catalog.raise_error($1, $2)', [pgError.sqlstate, pgError.serverMessage]);
  requests.flush();
  await substitute.done;
}

/** Swallows the server's answer to raise_error and gives the client the proxy's own error in its place. */
class ErrorSubstitute implements ReplySink {
  readonly done: Promise<void>;
  private resolve!: () => void;
  private remaining = STATEMENT_REQUESTS;
  private reported = false;

  constructor(
    private readonly io: SessionIo,
    private readonly error: PgError,
  ) {
    this.done = new Promise((resolve) => (this.resolve = resolve));
  }

  message(type: number): void {
    if (type !== BackendMessage.ErrorResponse || this.reported) return;
    this.reported = true;
    this.io.writeToClient(errorResponse(this.error));
  }

  complete(): void {
    if (--this.remaining > 0) return;
    if (!this.reported) this.io.writeToClient(errorResponse(this.error));
    this.resolve();
  }
}
