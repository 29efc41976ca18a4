// Counts what the proxy asks of PostgreSQL, on a relay between them (tcp-relay.ts): the messages PostgreSQL receives,
// and its turns, each a run of requests sent before PostgreSQL next answers — the round trips, however the
// requests are batched. Counted per connection from its startup on, all connections together.

import type { Socket } from 'node:net';

export class UpstreamTurns {
  /** Messages sent to PostgreSQL, the startup packet not counted, by type byte (e.g. 'P' for Parse). */
  readonly messages = new Map<string, number>();
  /** Runs of requests, each ended by PostgreSQL's next answer: the message types of each, in order ('PBDEH'). */
  readonly runs: string[] = [];

  /** Counts the traffic of one relayed connection: `toServer` carries the proxy's requests, `fromServer` the answers. */
  watch(toServer: Socket, fromServer: Socket): void {
    let pending = Buffer.alloc(0);
    let startup = true;
    let answered = true;
    toServer.on('data', (data: Buffer) => {
      pending = Buffer.concat([pending, data]);
      for (;;) {
        const header = startup ? 4 : 5;
        if (pending.length < header) break;
        const length = pending.readInt32BE(startup ? 0 : 1) + (startup ? 0 : 1);
        if (pending.length < length) break;
        if (!startup) {
          const type = String.fromCharCode(pending[0]!);
          this.messages.set(type, (this.messages.get(type) ?? 0) + 1);
          if (answered) this.runs.push('');
          this.runs[this.runs.length - 1] += type;
          answered = false;
        }
        startup = false;
        pending = pending.subarray(length);
      }
    });
    fromServer.on('data', () => (answered = true));
  }

  /** Starts counting afresh. */
  reset(): void {
    this.messages.clear();
    this.runs.length = 0;
  }

  /** Round trips since the last reset. */
  get turns(): number {
    return this.runs.length;
  }

  /** All messages sent since the last reset. */
  get total(): number {
    let sum = 0;
    for (const count of this.messages.values()) sum += count;
    return sum;
  }
}
