// JSON text the proxy did not write (a model's JSON answer, a call's arguments as the server hands them over, what a
// role stored in the catalog) is counted before it is parsed: JSON.parse costs by the arrays, objects and values it
// makes, not by bytes, and it runs on the event loop every session shares, so 8 MB of `[[[…]]]` or 18 MB of `[],`,
// under every cap on size, held all sessions for seconds. One linear pass refuses such a text instead. Strings are
// skipped whole (a long text counts as one value), runs of other characters (whitespace, digits) by a regular
// expression. Measured on the 2-core build machine (Node 22), idle (under a load of 8): the pass takes about 50 ms
// (120 ms) over 32 MiB of whitespace, where JSON.parse takes 20–30 ms, 45 ms (90 ms) over one number of 32 MiB digits
// (JSON.parse: 50–150 ms), 3 ms over one 32 MiB string (JSON.parse: 60 ms), 25 ms over 249,000 floats (JSON.parse:
// 50 ms); it stops at the first limit crossed, so 32 MiB of `[],` or `0,` or 8 MB of `[[[…]]]` cost it 0–10 ms.

import type { PgError } from '../proxy/pg-error.js';

export interface JsonLimits {
  depth: number;
  containers: number;
  values: number;
  /** Names of objects' members: each of a name not seen before makes V8 a new shape of object, dearer than a value. */
  members: number;
}

/**
 * What JSON.parse gets through on the event loop in well under 50 ms, as measured there: 100,000 empty arrays or
 * objects took 7–15 ms, 100,000 one-key objects 37 ms; 250,000 floats about 30 ms, small integers 4 ms; one 32 MiB
 * string 34 ms. Far above what a call needs: a real[] of 16,000 dimensions is 16,000 values, 1,000 documents 1,000;
 * and deep enough for llm_extract's JSON schemas of 32 levels (functions/schema-limits.ts), 2 deep each. Members whose
 * names all differ cost most: 240,000 of them (2,000 objects of 120 names of 100 characters, 25 MB) took 0.7 s idle and
 * 3 s under load, 50,000 about 70 ms, 25,000 20–50 ms; 1,000 documents of a few fields each are some thousands.
 */
export const EVENT_LOOP_JSON: JsonLimits = { depth: 128, containers: 100_000, values: 250_000, members: 50_000 };

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
const OPEN_ARRAY = 0x5b;
const OPEN_OBJECT = 0x7b;
const CLOSE_ARRAY = 0x5d;
const CLOSE_OBJECT = 0x7d;
/** A run of characters that are none of those counted: a regular expression skips it faster than a loop would. */
const UNCOUNTED_RUN = /[^",:[\]{}]*/y;

/** The first limit the text exceeds, in words ("more than 20 values"), or undefined. Malformed text is left to the parser. */
export function exceededJsonLimit(text: string, limits: JsonLimits): string | undefined {
  let depth = 0;
  let containers = 0;
  // Every value but the first of an array or object follows a comma.
  let commas = 0;
  let members = 0;
  for (let at = 0; at < text.length; at++) {
    switch (text.charCodeAt(at)) {
      case QUOTE:
        at = closingQuote(text, at);
        if (at < 0) return undefined;
        break;
      case COMMA:
        if (++commas + containers >= limits.values) return `more than ${limits.values} values`;
        break;
      case COLON:
        if (++members > limits.members) return `more than ${limits.members} members of objects`;
        break;
      case OPEN_ARRAY:
      case OPEN_OBJECT:
        if (++depth > limits.depth) return `arrays and objects nested more than ${limits.depth} deep`;
        if (++containers > limits.containers) return `more than ${limits.containers} arrays and objects`;
        break;
      case CLOSE_ARRAY:
      case CLOSE_OBJECT:
        depth--;
        break;
      default:
        // A single character (a digit before a comma) is cheaper to step over than to match.
        if (!counted(text.charCodeAt(at + 1))) {
          UNCOUNTED_RUN.lastIndex = at;
          UNCOUNTED_RUN.test(text);
          at = UNCOUNTED_RUN.lastIndex - 1;
        }
    }
  }
  return undefined;
}

/** The limits in words, for a hint: "250000 values, 100000 arrays and objects, 50000 members of objects, nested up to 128 deep". */
export function jsonLimitsInWords({ values, containers, members, depth }: JsonLimits): string {
  return `${values} values, ${containers} arrays and objects, ${members} members of objects, nested up to ${depth} deep`;
}

/**
 * JSON.parse of a text within `limits`; `refusal` words the error for one beyond them, told which limit it crossed.
 * Malformed text throws JSON.parse's SyntaxError, as before.
 */
export function parseWithinLimits(text: string, limits: JsonLimits, refusal: (exceeded: string) => PgError): unknown {
  const exceeded = exceededJsonLimit(text, limits);
  if (exceeded !== undefined) throw refusal(exceeded);
  return JSON.parse(text);
}

/** Where the string opened at `open` closes, or -1 if it does not: a quote after an even run of backslashes. */
function closingQuote(text: string, open: number): number {
  for (let at = text.indexOf('"', open + 1); at >= 0; at = text.indexOf('"', at + 1)) {
    let backslashes = 0;
    while (text.charCodeAt(at - 1 - backslashes) === BACKSLASH) backslashes++;
    if (backslashes % 2 === 0) return at;
  }
  return -1;
}

/** NaN (past the end) counts: nothing is left to skip. */
function counted(code: number): boolean {
  return Number.isNaN(code) || code === QUOTE || code === COMMA || code === COLON || code === OPEN_ARRAY || code === OPEN_OBJECT || code === CLOSE_ARRAY || code === CLOSE_OBJECT;
}
