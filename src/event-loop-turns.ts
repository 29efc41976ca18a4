// A loop whose every step may go on without waiting (rows that are all in already, a model answer held whole, a
// client's queued messages, a socket that keeps taking what is written) runs as one chain of microtasks, and no
// timer, socket or other session of the proxy gets a turn until it ends: a mock model's 500,000-word answer held
// every session for 48 s. Such a loop takes a step at a time through this, which lets the event loop turn every
// so many steps, and sooner when the steps are slow.

import { setImmediate as setImmediateCallback } from 'node:timers';
import { setImmediate } from 'node:timers/promises';

/** Steps between turns: cheap steps, so that a turn (a few microseconds) costs next to nothing of the loop's time. */
export const STEPS_A_TURN = 128;
const MS_A_TURN = 4;

export class EventLoopTurns {
  private steps = 0;
  private since = performance.now();

  /** Counts a step; resolves at once, or after a turn of the event loop when one is due. */
  async step(): Promise<void> {
    if (++this.steps < STEPS_A_TURN && performance.now() - this.since < MS_A_TURN) return;
    await setImmediate();
    this.steps = 0;
    this.since = performance.now();
  }
}

/** The items mapped one at a time, the event loop turning between them as EventLoopTurns has it: for a map whose steps parse what others wrote. */
export async function mapWithTurns<T, U>(items: Iterable<T>, map: (item: T) => U): Promise<U[]> {
  const turns = new EventLoopTurns();
  const mapped: U[] = [];
  for (const item of items) {
    await turns.step();
    mapped.push(map(item));
  }
  return mapped;
}

/**
 * Bytes copied in a turn of the event loop. Memory touched for the first time costs more than the copy: 3 ms a MB
 * on a VM whose host takes freed pages back (measured), where a 31 MB copy held every session for 80 ms.
 */
export const COPY_BYTES_A_TURN = 1024 * 1024;

/** `bytes` copied into a buffer of their own (which may move to a thread), COPY_BYTES_A_TURN a turn of the event loop. */
export async function copiedInTurns(bytes: Uint8Array): Promise<Uint8Array> {
  // Not zero-filled first: every byte of it is written.
  const copy = Buffer.allocUnsafeSlow(bytes.byteLength);
  for (let at = 0; at < bytes.byteLength; at += COPY_BYTES_A_TURN) {
    if (at > 0) await setImmediate();
    copy.set(bytes.subarray(at, at + COPY_BYTES_A_TURN), at);
  }
  return copy;
}

const waitingForTurns: Array<() => void> = [];
let turnTaken = false;

/**
 * Resolves when the caller may do a piece of work that cannot be cut up (an SDK's JSON.parse of a big answer, a
 * big message to a thread): one such piece a turn of the event loop, whoever asks. Answers parsed in a thread come
 * back together, and eight SDKs parsing 7 MB each, one after the other, held every session for most of a second
 * (review R3); one a turn, a session waits for one at most.
 */
export function ownTurn(): Promise<void> {
  return new Promise((resolve) => {
    waitingForTurns.push(resolve);
    if (!turnTaken) giveNextTurn();
  });
}

function giveNextTurn(): void {
  const next = waitingForTurns.shift();
  turnTaken = next !== undefined;
  if (!next) return;
  next();
  // An immediate set in the check phase runs on the next turn, but one set while sockets are read runs on this one:
  // set from an immediate, the next is sure to come after the sockets are read again.
  setImmediateCallback(() => setImmediateCallback(giveNextTurn));
}
