import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { RateBudget } from '../../src/providers/rate-limit.js';

describe('RateBudget', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());
  const budget = (perMinute: number) => new RateBudget(perMinute, () => Date.now());
  const signal = new AbortController().signal;

  it('admits a minute’s worth at once, then one more each time the budget has refilled for it', async () => {
    const requests = budget(60);
    for (let i = 0; i < 60; i++) await requests.take(1, signal);
    const started: number[] = [];
    const next = [requests.take(1, signal), requests.take(1, signal)].map((taken, i) => taken.then(() => started.push(i)));
    await vi.advanceTimersByTimeAsync(999);
    expect(started).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(started).toEqual([0]);
    await vi.advanceTimersByTimeAsync(1000);
    await Promise.all(next);
    expect(started).toEqual([0, 1]);
  });

  it('serves waiters in order: a small request does not pass a large one waiting before it', async () => {
    const tokens = budget(600);
    await tokens.take(600, signal);
    const order: string[] = [];
    const large = tokens.take(300, signal).then(() => order.push('large'));
    const small = tokens.take(1, signal).then(() => order.push('small'));
    await vi.advanceTimersByTimeAsync(1_000);
    expect(order).toEqual([]);
    await vi.advanceTimersByTimeAsync(29_100);
    await Promise.all([large, small]);
    expect(order).toEqual(['large', 'small']);
  });

  it('a request larger than a minute’s worth runs once the budget is full, rather than never', async () => {
    const tokens = budget(100);
    await tokens.take(50, signal);
    let done = false;
    const huge = tokens.take(1000, signal).then(() => (done = true));
    await vi.advanceTimersByTimeAsync(29_000);
    expect(done).toBe(false);
    await vi.advanceTimersByTimeAsync(1_000);
    await huge;
    expect(done).toBe(true);
  });

  it('spending more than estimated makes the next caller wait longer; a cancelled waiter leaves the line', async () => {
    const tokens = budget(60);
    await tokens.take(10, signal);
    tokens.adjust(50);
    const cancelled = new AbortController();
    const dropped = tokens.take(30, cancelled.signal);
    cancelled.abort(new Error('cancelled'));
    await expect(dropped).rejects.toThrow('cancelled');
    let done = false;
    const next = tokens.take(1, signal).then(() => (done = true));
    await vi.advanceTimersByTimeAsync(500);
    expect(done).toBe(false);
    await vi.advanceTimersByTimeAsync(1_000);
    await next;
    expect(done).toBe(true);
  });
});
