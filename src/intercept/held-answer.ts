// The answer of a statement whose calls wrote rows without waiting (deferred-writes.ts), held until those are in, so
// that they can travel with what ends the statement: the client sees the statement succeed only once they did. When
// one failed, it sees what it would have when the call failed on it: what came before the rows, then the error.

import { errorResponse } from '../../proxy/backend-write.js';
import type { SessionIo } from '../../proxy/interceptor.js';
import { BackendMessage } from '../../proxy/protocol.js';
import { pgErrorFrom } from './calls.js';
import type { DeferredWrites } from './deferred-writes.js';

export class HeldAnswer {
  /** The session, with what is written to the client held here. */
  readonly io: SessionIo;
  private readonly frames: Buffer[] = [];

  constructor(
    private readonly client: SessionIo,
    readonly writes: DeferredWrites,
  ) {
    this.io = Object.create(client) as SessionIo;
    this.io.writeToClient = (frame) => {
      this.frames.push(frame);
      return true;
    };
  }

  /** Once every write is answered (the caller has flushed): sends the answer, or the failure; true when they went in. */
  async settle(): Promise<boolean> {
    const failure = await this.writes.failure();
    if (!failure) {
      this.release();
      return true;
    }
    const rows = this.frames.findIndex((frame) => frame[0] === BackendMessage.DataRow || frame[0] === BackendMessage.CommandComplete);
    this.frames.splice(rows < 0 ? this.frames.length : rows);
    this.release();
    this.client.writeToClient(errorResponse(pgErrorFrom(failure)));
    return false;
  }

  /** Sends what is held: the statement failed on its own before its end, and its error comes next. */
  release(): void {
    for (const frame of this.frames.splice(0)) this.client.writeToClient(frame);
  }
}
