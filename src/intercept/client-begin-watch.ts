// While the proxy's transaction block stands in for the implicit transaction of the client's messages (execution.ts),
// a BEGIN or START TRANSACTION of the client's that the server runs as it came (an extended-protocol Execute, a
// Query too big to read) makes the block the client's, as PostgreSQL's BEGIN makes its implicit block an explicit
// one: the proxy must then leave it open where the implicit one would have ended, or it commits what the client
// means to roll back. The server, in a block already, warns of that BEGIN (25001), which PostgreSQL would not: the
// warning just before it is not passed on. A later BEGIN warns as it would without the proxy.

import { readCommandTag, readErrorField } from '../../proxy/backend-read.js';
import { BackendMessage } from '../../proxy/protocol.js';
import type { ReplySink } from '../../proxy/replies-owed.js';

const ALREADY_IN_TRANSACTION = '25001';
const BEGIN_TAGS = new Set(['BEGIN', 'START TRANSACTION']);

/** `sink`, with `begun` told once when the answer shows the client's block begun. */
export function watchingClientBegin(sink: ReplySink, begun: () => void): ReplySink {
  let told = false;
  let warning: Buffer | undefined;
  const passWarning = (): void => {
    if (warning) sink.message(BackendMessage.NoticeResponse, warning);
    warning = undefined;
  };
  return {
    message(type, frame) {
      if (!told && type === BackendMessage.NoticeResponse && readErrorField(frame, 'C') === ALREADY_IN_TRANSACTION) {
        passWarning();
        warning = Buffer.from(frame);
        return;
      }
      if (!told && type === BackendMessage.CommandComplete && BEGIN_TAGS.has(readCommandTag(frame))) {
        told = true;
        warning = undefined;
        begun();
      }
      passWarning();
      sink.message(type, frame);
    },
    complete(skipped) {
      passWarning();
      sink.complete(skipped);
    },
    dataRowReader: sink.dataRowReader?.bind(sink),
    copyDataReader: sink.copyDataReader?.bind(sink),
  };
}
