// PostgreSQL gives an error's position (its 'P' field, in characters from 1) in the whole query string the client
// sent. The proxy runs each statement of a Query of several on its own, so the server counts from the statement's
// start: the statement's offset in the Query is added back before the error reaches the client.

import { readErrorFields } from '../../proxy/backend-read.js';
import { errorResponseOf } from '../../proxy/backend-write.js';
import type { SessionIo } from '../../proxy/interceptor.js';
import { BackendMessage } from '../../proxy/protocol.js';

/** The session's io, with the position of every error written to the client moved on by `offset()` characters. */
export function errorPositionsShifted(io: SessionIo, offset: () => number): SessionIo {
  const shifted = Object.create(io) as SessionIo;
  shifted.writeToClient = (frame) => io.writeToClient(frame[0] === BackendMessage.ErrorResponse ? moved(frame, offset()) : frame);
  return shifted;
}

function moved(frame: Buffer, by: number): Buffer {
  if (by === 0) return frame;
  const fields = readErrorFields(frame);
  const position = fields.get('P');
  if (position === undefined) return frame;
  fields.set('P', String(Number(position) + by));
  return errorResponseOf(fields);
}
