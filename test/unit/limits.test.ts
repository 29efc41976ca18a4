import { describe, expect, it } from 'vitest';
import { CallLimit, limited, setProcessCallLimit } from '../../src/providers/limits.js';
import type { ChatResult, Provider } from '../../src/providers/provider.js';

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

describe('limited', () => {
  it('a call waiting for its own model\'s turn holds no process-wide slot: other models go ahead', async () => {
    setProcessCallLimit(2);
    const gates: Array<() => void> = [];
    const slow: Provider = {
      embeddingBatchSize: 1,
      chat: () => new Promise((resolve) => gates.push(() => resolve(answer('slow')))),
      stream: () => (async function* () {})(),
      embed: () => Promise.reject(new Error('no embeddings')),
    };
    const quick: Provider = { ...slow, chat: async () => answer('quick') };
    const slowModel = limited(slow, 'slow-model', { max_concurrency: 1 });
    const quickModel = limited(quick, 'quick-model', {});
    const request = { prompt: 'p', options: { responseFormat: { type: 'text' as const } }, signal: new AbortController().signal };
    const waiting = Array.from({ length: 5 }, () => slowModel.chat(request));
    await Promise.resolve();
    // Hangs (and the test times out) if the four calls waiting for the slow model held the process's slots.
    expect((await quickModel.chat(request)).text).toBe('quick');
    for (let released = 0; released < waiting.length; released++) {
      while (gates.length === 0) await new Promise((resolve) => setImmediate(resolve));
      gates.shift()!();
    }
    expect((await Promise.all(waiting)).map((result) => result.text)).toEqual(Array(5).fill('slow'));
    setProcessCallLimit(256);
  });
});

function answer(text: string): ChatResult {
  return { text, confidence: 1, confidenceSource: 'configured', usage: { promptTokens: 1, completionTokens: 1 }, model: 'm' };
}
