import { describe, expect, it } from 'vitest';
import { CallLimit } from '../../src/providers/limits.js';

describe('CallLimit', () => {
  it('lets at most its size run, and the rest in the order they asked', async () => {
    const limit = new CallLimit(2);
    const signal = new AbortController().signal;
    const order: string[] = [];
    const releases = await Promise.all([limit.acquire(signal), limit.acquire(signal)]);
    const third = limit.acquire(signal).then((release) => (order.push('third'), release));
    const fourth = limit.acquire(signal).then((release) => (order.push('fourth'), release));
    await Promise.resolve();
    expect(order).toEqual([]);
    releases[0]!();
    (await third)();
    releases[1]!();
    (await fourth)();
    expect(order).toEqual(['third', 'fourth']);
  });

  it('a cancelled waiter leaves the queue without taking a place', async () => {
    const limit = new CallLimit(1);
    const release = await limit.acquire(new AbortController().signal);
    const cancelled = new AbortController();
    const waiting = limit.acquire(cancelled.signal);
    cancelled.abort(new Error('cancelled'));
    await expect(waiting).rejects.toThrow('cancelled');
    release();
    // Hangs (and the test times out) if the cancelled waiter had kept the place.
    const next = await limit.acquire(new AbortController().signal);
    next();
    next();
  });

  it('a release counts once, however often it is called', async () => {
    const limit = new CallLimit(1);
    const signal = new AbortController().signal;
    const first = await limit.acquire(signal);
    first();
    first();
    const second = await limit.acquire(signal);
    let thirdStarted = false;
    const third = limit.acquire(signal).then((release) => ((thirdStarted = true), release));
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(thirdStarted).toBe(false);
    second();
    (await third)();
  });
});
