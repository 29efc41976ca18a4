// No embedding the proxy takes has more than pgvector's own maximum for vector, 16,000 dimensions, whatever a model
// config or a call asks for: embedding models make a few thousand, and a server any role may name (a model's
// base_url, a pgai call's client_config) could otherwise answer ten million numbers within the caps on an answer's
// size, which the proxy then writes out for the client on the event loop every session shares (15 s for those).
// The count is read without decoding the vector, in the thread that parses a big answer (answers/shape.ts) before
// the vector comes to the event loop, and again for an answer small enough to be parsed there (embedding-vectors.ts).

import { PgError, SqlState } from '../../proxy/pg-error.js';

export const MAX_EMBEDDING_DIMENSIONS = 16_000;

/** 54000 for an embedding (numbers, or OpenAI's base64 float32s) of more than MAX_EMBEDDING_DIMENSIONS. */
export function checkDimensionLimit(embedding: unknown): void {
  const dimensions = dimensionsOf(embedding);
  if (dimensions <= MAX_EMBEDDING_DIMENSIONS) return;
  throw new PgError(SqlState.ProgramLimitExceeded, `the model provider answered an embedding of ${Math.floor(dimensions)} dimensions, over the ${MAX_EMBEDDING_DIMENSIONS} the proxy takes`, {
    hint: `pgvector's vector has at most ${MAX_EMBEDDING_DIMENSIONS} dimensions: ask the model for fewer (dimensions, embedding_dimensions), or check the server its base_url names.`,
  });
}

/** The numbers of an embedding (numbers, or OpenAI's base64 float32s) without decoding it; 0 for anything else. */
export function dimensionsOf(embedding: unknown): number {
  return Array.isArray(embedding) ? embedding.length : typeof embedding === 'string' ? Buffer.byteLength(embedding, 'base64') / Float32Array.BYTES_PER_ELEMENT : 0;
}
