import { describe, expect, it } from 'vitest';
import { limited, modelQueues, processSlots, setProcessCallLimit } from '../../src/providers/limits.js';
import type { ChatResult, Provider } from '../../src/providers/provider.js';
import { heldLive } from '../support/held-memory.js';

const MiB = 1024 ** 2;

describe('limited', () => {
  it('a call waiting for its own model\'s turn holds no process-wide slot: other models go ahead', async () => {
    setProcessCallLimit(2, 2);
    const gates: Array<() => void> = [];
    const slow: Provider = {
      embeddingBatchSize: 1,
      chat: () => new Promise((resolve) => gates.push(() => resolve(answer('slow')))),
      stream: () => (async function* () {})(),
      embed: () => Promise.reject(new Error('no embeddings')),
    };
    const quick: Provider = { ...slow, chat: async () => answer('quick') };
    const slowModel = limited(slow, 'slow-model', { max_concurrency: 1 }, 'slow');
    const quickModel = limited(quick, 'quick-model', {}, 'quick');
    const request = { prompt: 'p', options: { responseFormat: { type: 'text' as const } }, signal: new AbortController().signal };
    const waiting = Array.from({ length: 5 }, () => slowModel.chat(request));
    await Promise.resolve();
    // Hangs (and the test times out) if the four calls waiting for the slow model held the process's slots.
    expect((await quickModel.chat(request)).text).toBe('quick');
    // As the admin dashboard shows them: a model without limits of its own has no queue of its own.
    expect(processSlots()).toEqual({ size: 2, running: 1, waiting: 0 });
    expect(modelQueues()).toEqual([{ instance: 'slow', maxConcurrency: 1, running: 1, waitingForTurn: 4, waitingForRequests: 0, waitingForTokens: 0 }]);
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

describe('the limits kept per model', () => {
  const idle: Provider = {
    embeddingBatchSize: 1,
    chat: async () => answer('idle'),
    stream: () => (async function* () {})(),
    embed: () => Promise.reject(new Error('no embeddings')),
  };

  it('are none for a model without limits of its own, however long and many its keys', () => {
    const before = heldLive();
    const name = 'm'.repeat(32 * 1024);
    for (let i = 0; i < 3000; i++) limited(idle, `${name}-${i}`, {}, `model ${i}`);
    // 3,000 keys of 32 KiB are 96 MiB.
    expect(heldLive() - before).toBeLessThan(8 * MiB);
  });

  it('are dropped when idle beyond a bound, least recently used first; a model with calls in flight keeps its own', async () => {
    setProcessCallLimit(256);
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    const slow: Provider = { ...idle, chat: async () => (await gate, answer('slow')) };
    const request = { prompt: 'p', options: { responseFormat: { type: 'text' as const } }, signal: new AbortController().signal };
    const busy = limited(slow, 'busy-model', { max_concurrency: 1 }, 'busy');
    const running = busy.chat(request);
    const waiting = busy.chat(request);
    await Promise.resolve();
    for (let i = 0; i < 3000; i++) limited(idle, `many-${i}`, { max_concurrency: 2 }, `many-${i}`);
    const queues = modelQueues();
    expect(queues.length).toBeLessThanOrEqual(1024);
    // The busy model is kept, its calls waiting for its own turn, and so are the models used last.
    expect(queues[0]).toEqual({ instance: 'busy', maxConcurrency: 1, running: 1, waitingForTurn: 1, waitingForRequests: 0, waitingForTokens: 0 });
    expect(queues.map(({ instance }) => instance)).toContain('many-2999');
    expect(queues.map(({ instance }) => instance)).not.toContain('many-0');
    // Another provider of the same key, built now, shares the busy model's limit: its call waits too.
    const again = limited(slow, 'busy-model', { max_concurrency: 1 }, 'busy');
    const third = again.chat(request);
    await Promise.resolve();
    expect(modelQueues()[0]).toMatchObject({ instance: 'busy', running: 1, waitingForTurn: 2 });
    open();
    expect((await Promise.all([running, waiting, third])).map((result) => result.text)).toEqual(['slow', 'slow', 'slow']);
  });
});
