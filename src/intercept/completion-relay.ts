// The answer to a Query the server runs, relayed to the client as the session relays any (its rows as they come,
// none held whole however big), with the engine told of each statement the server completed: what the engine knows
// of the session's prepared statements follows a DEALLOCATE or DISCARD ALL only once the server has carried it out
// (it may fail, or not run at all after an earlier statement's error).

import { relayedAsItComes } from '../../proxy/backend-write.js';
import type { SessionIo } from '../../proxy/interceptor.js';
import { BackendMessage } from '../../proxy/protocol.js';
import type { ReplySink } from '../../proxy/replies-owed.js';

/** `completed` is told the index, in the query string, of each statement as its CommandComplete arrives. */
export function relayNotingCompletions(io: SessionIo, completed: (statement: number) => void): ReplySink {
  let statement = 0;
  return {
    message(type, frame) {
      if (type === BackendMessage.CommandComplete) completed(statement++);
      io.writeToClient(frame);
    },
    complete() {},
    dataRowReader: (length) => relayedAsItComes(BackendMessage.DataRow, length, (bytes) => io.writeToClient(bytes)),
  };
}
