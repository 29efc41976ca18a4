// The local embedding of many texts (a document's chunks, a mock model's batch) on the event loop every session
// shares: one text a turn, each at most MAX_LOCAL_CHARACTERS read, so others are served between them.

import { setImmediate as nextTurn } from 'node:timers/promises';
import { localEmbedding } from './local-embedding.js';

export async function localVectors(texts: string[], dimensions: number, signal: AbortSignal): Promise<number[][]> {
  const vectors: number[][] = [];
  for (const text of texts) {
    if (vectors.length > 0) await nextTurn();
    signal.throwIfAborted();
    vectors.push(localEmbedding(text, dimensions));
  }
  return vectors;
}
