// Answers to the client's own requests that the proxy forwards as they are, watched for the server's refusal (an
// ErrorResponse, or the request skipped after an earlier error: PostgreSQL ignores the rest up to the Sync), or its
// running them.

import { relayedAsItComes } from '../../proxy/backend-write.js';
import type { SessionIo } from '../../proxy/interceptor.js';
import { BackendMessage } from '../../proxy/protocol.js';
import type { ReplySink } from '../../proxy/replies-owed.js';

/** Relays the answer to the client as it is, its rows as they come. */
export function relayToClient(io: SessionIo): ReplySink {
  const write = (bytes: Buffer): void => void io.writeToClient(bytes);
  return {
    message: (_type, frame) => write(Buffer.from(frame)),
    complete() {},
    dataRowReader: (length) => relayedAsItComes(BackendMessage.DataRow, length, write),
    copyDataReader: (length) => relayedAsItComes(BackendMessage.CopyData, length, write),
  };
}

/**
 * `sink`, with `refused` told once if the server refuses the request, or skips it (`skipped`), or else `ran` once
 * the server has run it.
 */
export function watchingRefusal(sink: ReplySink, refused: (skipped: boolean) => void, ran: () => void): ReplySink {
  let told = false;
  const tell = (outcome: () => void): void => {
    if (!told) outcome();
    told = true;
  };
  return {
    message(type, frame) {
      if (type === BackendMessage.ErrorResponse) tell(() => refused(false));
      sink.message(type, frame);
    },
    complete(skipped) {
      tell(skipped ? () => refused(true) : ran);
      sink.complete(skipped);
    },
  };
}
