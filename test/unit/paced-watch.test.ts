// A statement relayed as it comes is looked at a couple of milliseconds a turn of the event loop, not as fast as it
// arrives (review P: 2 MiB a turn of a client's reads held every other session some 50 ms, more with each such client).

import { setImmediate as nextTurn } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import type { StatementWatch } from '../../proxy/interceptor.js';
import { PacedWatch } from '../../proxy/paced-watch.js';
import { PgError } from '../../proxy/pg-error.js';

const MiB = 1024 * 1024;

/** A watch that records what it is shown, the statement's text apart from the rest, and spends `nsAByte` on each byte. */
function recordingWatch(nsAByte = 0): StatementWatch & { text: Buffer[]; other: Buffer[]; ended: number } {
  const watch = {
    text: [] as Buffer[],
    other: [] as Buffer[],
    ended: 0,
    read(bytes: Buffer, sql: boolean) {
      (sql ? watch.text : watch.other).push(Buffer.from(bytes));
      const until = performance.now() + (bytes.length * nsAByte) / 1e6;
      while (performance.now() < until);
    },
    end: () => {
      watch.ended++;
      return new PgError('54000', 'refused');
    },
  };
  return watch;
}

describe('PacedWatch', () => {
  it('shows nothing while it is read, then all of it in order over turns, and judges once it has shown it all', async () => {
    const watch = recordingWatch(20);
    const paced = new PacedWatch(watch, () => {});
    const text = Buffer.alloc(2 * MiB);
    for (let i = 0; i < text.length; i++) text[i] = i % 251;
    const reused = Buffer.alloc(64 * 1024);
    paced.read(Buffer.from('Q\0\0\0\0'), false);
    for (let at = 0; at < text.length; at += reused.length) {
      // The reader's memory takes the next read: the watch must be shown a copy.
      text.copy(reused, 0, at, at + reused.length);
      paced.read(reused, true);
    }
    paced.read(Buffer.from([0]), false);
    let judgement: PgError | undefined;
    paced.end('', text.length, (refusal) => (judgement = refusal));
    expect(watch.text.length + watch.other.length).toBe(0);
    await nextTurn();
    // At 20 ns a byte, 2 MiB take some 40 ms to look at: a turn shows a few milliseconds' worth.
    const shownInATurn = Buffer.concat(watch.text).length;
    expect(shownInATurn).toBeGreaterThan(0);
    expect(shownInATurn).toBeLessThan(text.length / 2);
    expect(judgement).toBeUndefined();
    await expect.poll(() => judgement).toBeInstanceOf(PgError);
    // Compared as buffers: vitest's toEqual takes seconds over megabytes.
    expect(Buffer.concat(watch.text).equals(text)).toBe(true);
    expect(Buffer.concat(watch.other)).toEqual(Buffer.from('Q\0\0\0\0\0'));
    expect(watch.ended).toBe(1);
  });

  it('judges at once what it has shown all of', () => {
    const watch = recordingWatch();
    let judged = false;
    new PacedWatch(watch, () => {}).end(undefined, 0, () => (judged = true));
    expect(judged).toBe(true);
  });

  it('has the client not read while megabytes wait to be looked at, and read again once they are fewer', async () => {
    const paced = new PacedWatch(recordingWatch(5), (backlogged) => told.push(backlogged));
    const told: boolean[] = [];
    for (let i = 0; i < 4; i++) paced.read(Buffer.alloc(MiB), true);
    expect(told).toEqual([]);
    paced.read(Buffer.alloc(1), true);
    expect(told).toEqual([true]);
    expect(paced.backlogged).toBe(true);
    await expect.poll(() => told).toEqual([true, false]);
    expect(paced.backlogged).toBe(false);
  });

  it('shows and judges nothing more once stopped', async () => {
    const watch = recordingWatch();
    const paced = new PacedWatch(watch, () => {});
    paced.read(Buffer.alloc(MiB), true);
    let judged = false;
    paced.end('', MiB, () => (judged = true));
    paced.stop();
    paced.read(Buffer.alloc(10), true);
    await nextTurn();
    await nextTurn();
    expect(watch.text).toEqual([]);
    expect(judged).toBe(false);
  });
});
