import { describe, expect, it } from 'vitest';
import { limited, modelQueues, processSlots, setProcessCallLimit } from '../../src/providers/limits.js';
import type { ChatResult, Provider } from '../../src/providers/provider.js';

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
