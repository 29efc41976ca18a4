// The semaphore of model calls: a size, a share of it per asker (a role in a database), turns taken by asker when
// slots free up, each asker's calls in the order they asked, and cancelled waiters gone at once.

import { describe, expect, it } from 'vitest';
import { CallLimit } from '../../src/providers/call-limit.js';

const signal = new AbortController().signal;

/** Asks for a slot and records the label once it is granted. */
function ask(limit: CallLimit, started: string[], label: string, asker: string, abort = signal): Promise<() => void> {
  return limit.acquire(abort, asker).then((release) => (started.push(label), release));
}

/** Lets granted waiters run their continuations. */
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

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

describe('CallLimit shared by askers', () => {
  it('an asker holds at most its share: its further calls wait while another asker starts at once', async () => {
    const limit = new CallLimit(8, 2);
    const started: string[] = [];
    const bobs = ['b1', 'b2', 'b3', 'b4'].map((label) => ask(limit, started, label, 'bob'));
    await settle();
    expect(started).toEqual(['b1', 'b2']);
    expect(limit.queued).toBe(2);
    // Hangs (and the test times out) if bob's waiting calls held alice up.
    const alice = await ask(limit, started, 'a1', 'alice');
    expect(started).toEqual(['b1', 'b2', 'a1']);
    alice();
    for (const release of await Promise.all(bobs.slice(0, 2))) release();
    for (const release of await Promise.all(bobs.slice(2))) release();
    expect(started).toEqual(['b1', 'b2', 'a1', 'b3', 'b4']);
  });

  it('as slots free up, askers with calls waiting take turns; each asker\'s calls start in the order they asked', async () => {
    const limit = new CallLimit(2);
    const started: string[] = [];
    const first = await Promise.all([ask(limit, started, 'b1', 'bob'), ask(limit, started, 'b2', 'bob')]);
    const waiting = [
      ask(limit, started, 'b3', 'bob'),
      ask(limit, started, 'b4', 'bob'),
      ask(limit, started, 'b5', 'bob'),
      ask(limit, started, 'a1', 'alice'),
      ask(limit, started, 'a2', 'alice'),
    ];
    first[0]!();
    first[1]!();
    await settle();
    // First come, first served would start b3 and b4.
    expect(started).toEqual(['b1', 'b2', 'b3', 'a1']);
    for (const release of await Promise.all([waiting[0]!, waiting[3]!])) release();
    await settle();
    expect(started).toEqual(['b1', 'b2', 'b3', 'a1', 'b4', 'a2']);
    for (const release of await Promise.all([waiting[1]!, waiting[4]!])) release();
    (await waiting[2]!)();
    expect(started).toEqual(['b1', 'b2', 'b3', 'a1', 'b4', 'a2', 'b5']);
  });

  it("a cancelled call leaves its asker's queue at once, and the next of that asker's calls takes its turn", async () => {
    const limit = new CallLimit(1);
    const started: string[] = [];
    const running = await ask(limit, started, 'b1', 'bob');
    const cancelled = new AbortController();
    const gone = ask(limit, started, 'b2', 'bob', cancelled.signal);
    const next = ask(limit, started, 'b3', 'bob');
    expect(limit.queued).toBe(2);
    cancelled.abort(new Error('cancelled'));
    await expect(gone).rejects.toThrow('cancelled');
    expect(limit.queued).toBe(1);
    running();
    (await next)();
    expect(started).toEqual(['b1', 'b3']);
    expect(limit.queued).toBe(0);
  });

  it('a larger size or share starts waiting calls at once', async () => {
    const limit = new CallLimit(4, 1);
    const started: string[] = [];
    const first = await ask(limit, started, 'b1', 'bob');
    const second = ask(limit, started, 'b2', 'bob');
    await settle();
    expect(started).toEqual(['b1']);
    limit.resize(4, 2);
    (await second)();
    first();
    expect(started).toEqual(['b1', 'b2']);
  });
});
