// Answers to the client's own requests that the proxy forwards as they are, watched for the server's refusal: an
// ErrorResponse, or the request skipped after an earlier error (PostgreSQL ignores the rest up to the Sync).

import type { SessionIo } from '../../proxy/interceptor.js';
import { BackendMessage } from '../../proxy/protocol.js';
import type { ReplySink } from '../../proxy/replies-owed.js';

/** Relays the answer to the client as it is. */
export function relayToClient(io: SessionIo): ReplySink {
  return {
    message: (_type, frame) => void io.writeToClient(Buffer.from(frame)),
    complete() {},
  };
}

/** `sink`, with `refused` told once if the server refuses the request, or skips it (`skipped`). */
export function watchingRefusal(sink: ReplySink, refused: (skipped: boolean) => void): ReplySink {
  let told = false;
  const tell = (skipped: boolean): void => {
    if (!told) refused(skipped);
    told = true;
  };
  return {
    message(type, frame) {
      if (type === BackendMessage.ErrorResponse) tell(false);
      sink.message(type, frame);
    },
    complete(skipped) {
      if (skipped) tell(true);
      sink.complete(skipped);
    },
  };
}
