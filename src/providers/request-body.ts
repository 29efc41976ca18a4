// A request body of megabytes of text (a prompt, the documents to embed) is written as JSON in a thread
// (answers/pool.ts) and sent as those bytes: JSON.stringify takes some 0.9 s to write a 24 MB prompt of quotes and
// backslashes, which on the event loop every other session would wait out (review L3). A small body is written where
// it is, by the SDK or the caller, as before.

import { currentAsker } from './asker.js';
import { encodeInThread } from './answers/pool.js';

/** Characters of strings past which a body is written in a thread. */
export const INLINE_BODY_CHARS = 256 * 1024;

/** The JSON headers of a body sent as bytes, which an SDK does not add to a body it did not write. */
export const JSON_CONTENT = { 'content-type': 'application/json' };

/** The bodies written in a thread that ask for a stream of events (`"stream": true`), which their bytes no longer tell. */
const askingForStream = new WeakSet<Uint8Array>();

/** `body` written as JSON (UTF-8) in a thread when its strings are big, else undefined: the caller writes it. */
export async function bigBody(body: object): Promise<Uint8Array | undefined> {
  const chars = stringChars(body, INLINE_BODY_CHARS);
  if (chars <= INLINE_BODY_CHARS) return undefined;
  const bytes = await encodeInThread(body, chars, currentAsker());
  if ((body as { stream?: unknown }).stream === true) askingForStream.add(bytes);
  return bytes;
}

/** Whether a body bigBody() wrote asks for a stream of events. */
export function asksForStreamInBytes(bytes: Uint8Array): boolean {
  return askingForStream.has(bytes);
}

/**
 * The request options of an SDK call that send `body` as bytes written in a thread when it is big; none when it is
 * small, and the SDK writes it (the options' body takes the place of the call's parameters, which still say what
 * the SDK makes of the answer: whether it streams).
 */
export async function sdkBodyOptions(body: object): Promise<{ body?: Uint8Array; headers?: Record<string, string> }> {
  const bytes = await bigBody(body);
  return bytes ? { body: bytes, headers: JSON_CONTENT } : {};
}

/** The characters of the strings in `value` (its keys' too, four a number), counted up to a little past `enough`. */
export function stringChars(value: unknown, enough = Infinity): number {
  let chars = 0;
  const pending: unknown[] = [value];
  while (pending.length > 0 && chars <= enough) {
    const next = pending.pop();
    if (typeof next === 'string') chars += next.length;
    // A token's id (pgai's embeddings of int[] tokens) counts as the four characters a token is taken for.
    else if (typeof next === 'number') chars += 4;
    else if (Array.isArray(next)) for (const item of next) pending.push(item);
    else if (next !== null && typeof next === 'object') {
      for (const [key, member] of Object.entries(next)) {
        chars += key.length;
        pending.push(member);
      }
    }
  }
  return chars;
}
