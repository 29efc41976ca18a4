// Embedding requests batched by asker: each caller gets its own vectors, and a caller's signal (a statement's,
// shared by all its calls) carries no listener of the batcher's once its request is answered.

import { getEventListeners } from 'node:events';
import { describe, expect, it } from 'vitest';
import { batchedEmbeddings } from '../../src/providers/embedding-batcher.js';
import type { EmbedRequest, Provider } from '../../src/providers/provider.js';

const provider: Provider = {
  chat: () => Promise.reject(new Error('not used')),
  stream: () => {
    throw new Error('not used');
  },
  embed: (request: EmbedRequest) =>
    Promise.resolve({ vectors: request.texts.map((text) => [text.length]), model: 'e', usage: { promptTokens: request.texts.length, completionTokens: 0 } }),
  embeddingBatchSize: 8,
};

describe('batched embeddings', () => {
  it('answers each caller with its own vectors and leaves no listener on a shared signal', async () => {
    const statement = new AbortController();
    const batched = batchedEmbeddings(provider);
    const texts = Array.from({ length: 20 }, (_, i) => 'x'.repeat(i + 1));
    const results = await Promise.all(texts.map((text) => batched.embed({ texts: [text], signal: statement.signal, asker: 'alice' })));
    expect(results.map((result) => result.vectors[0]![0])).toEqual(texts.map((text) => text.length));
    expect(getEventListeners(statement.signal, 'abort')).toHaveLength(0);
  });
});
