// What of a provider's answer an adapter reads, and the answer cut down to that. A big answer is parsed in a worker
// thread (pool.ts) and only its pruned form comes back to the event loop, so the unknown fields a server adds (or
// pads its answer with) never cost the sessions anything. Shapes are plain data: they travel to the worker.

import { PgError } from '../../../proxy/pg-error.js';
import { base64Vector } from '../embedding-vectors.js';
import type { VectorTally } from './vector-tally.js';

/**
 * 'scalar': a string, number, boolean or null, never an array or object. 'vector': an embedding, numbers or a base64
 * string, kept as a base64 string (embedding-vectors.ts). 'any': whatever is there (an answer handed on whole).
 * `fields`: those fields of an object. `items`: the first `first` items of an array, each of that shape. A vector
 * is counted (vector-tally.ts) before it is kept, and the answer fails at the first that passes a bound.
 */
export type Shape =
  | 'scalar'
  | 'vector'
  | 'any'
  | { readonly fields: Readonly<Record<string, Shape>> }
  | { readonly items: Shape; readonly first: number };

/**
 * The shapes of a client's answers: a whole answer, and an event of a stream (server-sent events); or, for a client
 * that reads JSON lines (a batch's results), a line.
 */
export interface AnswerShapes {
  answer: Shape;
  event?: Shape;
  lines?: Shape;
}

/** The fields of both shapes (those of objects within both too); where only one describes a field, as that one does. */
export function bothShapes(first: Shape, second: Shape): Shape {
  if (typeof first !== 'object' || typeof second !== 'object' || !('fields' in first) || !('fields' in second)) return second;
  const fields: Record<string, Shape> = { ...first.fields };
  for (const [name, inner] of Object.entries(second.fields)) fields[name] = name in fields ? bothShapes(fields[name]!, inner) : inner;
  return { fields };
}

/**
 * The value cut down to the shape. Scalars stay wherever they are (an adapter checks their types itself); arrays
 * and objects stay only where the shape describes them.
 */
export function prune(value: unknown, shape: Shape, vectors: VectorTally): unknown {
  if (shape === 'vector') vectors.count(value);
  if (value === null || typeof value !== 'object' || shape === 'any') return value;
  if (shape === 'vector') return Array.isArray(value) && value.every((item) => typeof item === 'number') ? base64Vector(value) : undefined;
  if (shape === 'scalar') return undefined;
  if ('items' in shape) return Array.isArray(value) ? value.slice(0, shape.first).map((item) => prune(item, shape.items, vectors) ?? null) : undefined;
  if (Array.isArray(value)) return undefined;
  const kept: Record<string, unknown> = {};
  for (const [name, inner] of Object.entries(shape.fields)) {
    if (!Object.hasOwn(value, name)) continue;
    const pruned = prune((value as Record<string, unknown>)[name], inner, vectors);
    if (pruned !== undefined) kept[name] = pruned;
  }
  return kept;
}

/** The value of an answer's JSON text, or 39001. */
export function parsedAnswer(json: string): unknown {
  try {
    return JSON.parse(json);
  } catch {
    throw new PgError('39001', "the model provider's answer is not valid JSON", {
      hint: 'Check the base_url of the model: the server there does not answer as the provider API does.',
    });
  }
}
