// A call's arguments as the upstream hands them over (a row's bytes of JSON) parsed with each long string decoded
// once, from its bytes. Decoding the whole text and then JSON.parse copying each string out of it again held the
// event loop twice over a 30 MB text argument (toString 45 ms, then JSON.parse 70 ms, on the 2-core build machine).
// A long string without escapes goes to JSON.parse as a short stand-in, which the string decoded from its bytes
// replaces after. The limits (json-structure.ts) count a string as nothing, so they count the text as before.

import { parsedArgumentJson } from './argument-limits.js';

/** A string this long is decoded on its own. */
const LONG_STRING_BYTES = 64 * 1024;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;
/** No text of PostgreSQL's holds U+0000 (jsonb refuses it), so no value the upstream hands over begins so. */
const STAND_IN = '\u0000pg_llm proxy long string ';

/** parsedArgumentJson of `bytes` (UTF-8): the same value, its long strings decoded once. */
export function parsedArgumentBytes(bytes: Buffer, call: string): unknown {
  const long = new Map<string, string>();
  const parts: Buffer[] = [];
  let copied = 0;
  for (let open = bytes.indexOf(QUOTE); open >= 0; ) {
    const close = closingQuote(bytes, open);
    if (close < 0) break;
    if (close - open > LONG_STRING_BYTES && !isMemberName(bytes, close) && bytes.subarray(open, close).indexOf(BACKSLASH) < 0) {
      const standIn = STAND_IN + long.size;
      long.set(standIn, bytes.toString('utf8', open + 1, close));
      parts.push(bytes.subarray(copied, open), Buffer.from(JSON.stringify(standIn)));
      copied = close + 1;
    }
    open = bytes.indexOf(QUOTE, close + 1);
  }
  if (long.size === 0) return parsedArgumentJson(bytes.toString('utf8'), call);
  parts.push(bytes.subarray(copied));
  return restored(parsedArgumentJson(Buffer.concat(parts).toString('utf8'), call), long);
}

/** Where the string opened at `open` closes, or -1: a quote after an even run of backslashes. */
function closingQuote(bytes: Buffer, open: number): number {
  for (let at = bytes.indexOf(QUOTE, open + 1); at >= 0; at = bytes.indexOf(QUOTE, at + 1)) {
    let backslashes = 0;
    while (bytes[at - 1 - backslashes] === BACKSLASH) backslashes++;
    if (backslashes % 2 === 0) return at;
  }
  return -1;
}

/** Whether the string closed at `close` names an object's member (a colon follows it), which stays as it is. */
function isMemberName(bytes: Buffer, close: number): boolean {
  let at = close + 1;
  while (bytes[at] === 0x20 || bytes[at] === 0x0a || bytes[at] === 0x0d || bytes[at] === 0x09) at++;
  return bytes[at] === COLON;
}

/** The value with each stand-in replaced by its string; within the limits, nested no deeper than they let it. */
function restored(value: unknown, long: ReadonlyMap<string, string>): unknown {
  if (typeof value === 'string') return long.get(value) ?? value;
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) value[i] = restored(value[i], long);
    return value;
  }
  for (const key of Object.keys(value)) {
    const child = (value as Record<string, unknown>)[key];
    const replaced = restored(child, long);
    // defineProperty: a member named __proto__ is an own property of what JSON.parse made, and stays one.
    if (replaced !== child) Object.defineProperty(value, key, { value: replaced, writable: true, enumerable: true, configurable: true });
  }
  return value;
}
