// The vectors of an embeddings answer, checked before they reach the database: one for each text, each of finite
// numbers, each as long as the model config says (embedding_dimensions) when it says. OpenAI and Azure are asked for
// base64 (a quarter of the float JSON's size, and no numbers to parse), which is decoded here. None is over
// MAX_EMBEDDING_DIMENSIONS (embedding-dimensions.ts), a limit checked before it is decoded. A big answer's vectors of
// numbers are made base64 too, in the thread that parses it (answers/shape.ts): 2,048 vectors of 3,072 numbers are
// 124 MB of JSON, which the SDK's one JSON.parse on the event loop took most of a second to read; as base64, 34 MB
// of strings, a tenth of that. Nothing is lost: the proxy hands vectors on as float4s (vector, real[]) only.

import { EventLoopTurns } from '../event-loop-turns.js';
import { checkDimensionLimit } from './embedding-dimensions.js';
import { ProviderError } from './errors.js';

/** OpenAI's base64 embedding (little-endian float32) as numbers; numbers as they are; anything else undefined. */
export function vectorOf(value: unknown): number[] | undefined {
  if (Array.isArray(value)) return value as number[];
  if (typeof value !== 'string') return undefined;
  const bytes = Buffer.from(value, 'base64');
  if (bytes.byteLength % Float32Array.BYTES_PER_ELEMENT !== 0) return undefined;
  const floats = new Float32Array(bytes.byteLength / Float32Array.BYTES_PER_ELEMENT);
  new Uint8Array(floats.buffer).set(bytes);
  return Array.from(floats);
}

/** A vector of numbers as OpenAI's base64 embedding, little-endian float32s. */
export function base64Vector(vector: number[]): string {
  return Buffer.from(Float32Array.from(vector).buffer).toString('base64');
}

/**
 * The answer's vectors, one for each of `texts` texts, each of `dimensions` numbers when that is known. A vector is
 * decoded and checked a step at a time (event-loop-turns.ts): an answer of 2,048 vectors of 3,072 numbers, as
 * OpenAI sends, took a third of a second of the event loop every session shares, a thousand of 16,000 a second.
 */
export async function checkedVectors(provider: string, answered: unknown[] | undefined, texts: number, dimensions?: number): Promise<number[][]> {
  if (!Array.isArray(answered) || answered.length !== texts) {
    throw new ProviderError(`${provider} answered ${Array.isArray(answered) ? answered.length : 'no'} embeddings for ${texts} texts`);
  }
  const turns = new EventLoopTurns();
  const vectors: number[][] = [];
  for (const value of answered) {
    vectors.push(checkedVector(provider, value, dimensions));
    await turns.step();
  }
  return vectors;
}

function checkedVector(provider: string, value: unknown, dimensions: number | undefined): number[] {
  checkDimensionLimit(value);
  const vector = vectorOf(value);
  // A number past float4's range is none as the proxy hands it on, whether or not it came as base64.
  if (!vector || vector.length === 0 || !vector.every((item) => typeof item === 'number' && Number.isFinite(Math.fround(item)))) {
    throw new ProviderError(`${provider} answered an embedding that is not a list of numbers`);
  }
  if (dimensions !== undefined) checkDimensions(provider, vector.length, dimensions);
  return vector;
}

/** 39001 for an embedding of other dimensions than the model config's (embedding_dimensions). */
export function checkDimensions(provider: string, answered: number, asked: number): void {
  if (answered === asked) return;
  throw new ProviderError(`${provider} answered an embedding of ${answered} dimensions where ${asked} were asked for`,
    "embedding_dimensions in the model config must be the number of dimensions of the model's embeddings.",
  );
}
