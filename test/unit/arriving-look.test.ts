// A held statement is shown to the interceptor in slices in the shared looking turns as it arrives, handed on only
// once all of it is looked at, and its client is not read while the looking lags more than a MiB behind.

import { setImmediate as nextTurn } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { ArrivingLook } from '../../proxy/arriving-look.js';
import type { Interceptor } from '../../proxy/interceptor.js';

const MiB = 1024 * 1024;

/** An interceptor that looks at Queries as they arrive, recording how far it was shown. */
function lookingInterceptor(watches = true): Interceptor & { shown: number[] } {
  const shown: number[] = [];
  return { shown, arriving: (_type: number, _frame: Buffer, filled: number) => (shown.push(filled), watches) } as unknown as Interceptor & { shown: number[] };
}

describe('ArrivingLook', () => {
  it('shows the frame in slices over turns, never past what is in, and tells once all of it is looked at', async () => {
    const interceptor = lookingInterceptor();
    const frame = Buffer.alloc(3 * MiB);
    const look = new ArrivingLook(0x51, frame, interceptor, () => {});
    look.arrived(MiB);
    expect(interceptor.shown).toEqual([0]);
    await nextTurn();
    expect(Math.max(...interceptor.shown)).toBeLessThanOrEqual(MiB);
    let handedOn = false;
    expect(look.lookedAtWhole(() => (handedOn = true))).toBe(false);
    await expect.poll(() => handedOn).toBe(true);
    expect(interceptor.shown.at(-1)).toBe(frame.length);
    // Each slice shows more than the one before.
    expect(interceptor.shown.every((filled, at) => at === 0 || filled > interceptor.shown[at - 1]!)).toBe(true);
  });

  it('hands on at once a frame the interceptor does not look at as it comes', () => {
    const look = new ArrivingLook(0x42, Buffer.alloc(2 * MiB), lookingInterceptor(false), () => {});
    look.arrived(MiB);
    expect(look.lookedAtWhole(() => {})).toBe(true);
  });

  it('has its client not read while more than a MiB is in and not looked at, and read again from half that', async () => {
    const told: boolean[] = [];
    const look = new ArrivingLook(0x51, Buffer.alloc(4 * MiB), lookingInterceptor(), (backlogged) => told.push(backlogged));
    look.arrived(MiB);
    expect(told).toEqual([]);
    look.arrived(MiB + 1);
    expect(told).toEqual([true]);
    expect(look.backlogged).toBe(true);
    await expect.poll(() => told).toEqual([true, false]);
    look.stop();
  });
});
