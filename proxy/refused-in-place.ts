// The answer to a client's request the server was made to refuse on the proxy's behalf (a statement too big to hold,
// spoilt so that it does not run: statement-relay.ts): the server's error goes, the proxy's takes its place, and the
// rest (a Query's ReadyForQuery) reaches the client as it is.

import { errorResponse } from './backend-write.js';
import type { PgError } from './pg-error.js';
import { BackendMessage } from './protocol.js';
import type { ReplySink } from './replies-owed.js';

export function refusedInPlace(error: PgError, toClient: (frame: Buffer) => void): ReplySink {
  return {
    message: (type, frame) => toClient(type === BackendMessage.ErrorResponse ? errorResponse(error) : Buffer.from(frame)),
    complete() {},
  };
}
