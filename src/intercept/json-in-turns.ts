// The JSON text of a call's result, an array's items one at a time with turns of the event loop between
// (event-loop-turns.ts, which turns every so many items, and sooner when they are big): a set-returning call's rows
// kept for a statement's later pass are one array, and JSON.stringify of two million streamed chunks in one go held
// every session of the proxy for a second, as would a few hundred rows of 16,000-dimension embeddings.

import { EventLoopTurns } from '../event-loop-turns.js';

/**
 * JSON.stringify(value), the items of an array of rows (or other objects) one at a time. An array of numbers or
 * strings, a vector of at most 16,000 dimensions for one, is one step: a step for each number would cost more than it
 * spares.
 */
export async function jsonInTurns(value: unknown): Promise<string> {
  if (!Array.isArray(value) || !value.some((item) => typeof item === 'object' && item !== null)) return JSON.stringify(value);
  const turns = new EventLoopTurns();
  const items: string[] = [];
  for (const item of value) {
    // As in JSON.stringify of the array: an item that has no JSON (undefined) is null.
    items.push(JSON.stringify(item) ?? 'null');
    await turns.step();
  }
  return `[${items.join(',')}]`;
}
