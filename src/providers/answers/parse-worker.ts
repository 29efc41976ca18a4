// A thread that parses big provider answers (pool.ts): it checks each answer's structure, parses it, and sends back
// only the part its adapter reads, as JSON text, so that the event loop parses a small text, never the answer. The
// text goes back as the bytes the SDK reads, moved rather than copied: sent as a string it was copied once into the
// event loop's heap and encoded there again (an embeddings answer's 80 MB of base64 vectors took some 200 ms). An
// answer handed on whole (json-answer.ts) comes back whole too, masked and written out here, for the event loop to
// pass on as it is.

import { parentPort } from 'node:worker_threads';
import { PgError } from '../../../proxy/pg-error.js';
import { maskedJson, SecretFragments } from '../../crypto/secret-fragments.js';
import type { ThreadError } from '../../sql/parse-task.js';
import { parsedAnswer, prune, type Shape } from './shape.js';
import type { JsonLimits } from '../../json-structure.js';
import { checkStructure } from './structure.js';
import type { EmbeddingsAsked } from './embeddings-asked.js';
import { limitsAnswering, VectorTally } from './vector-tally.js';

export interface ParseRequest {
  text: Uint8Array;
  shape: Shape;
  limits: JsonLimits;
  /** What the request asked for, when it asked for embeddings (embeddings-asked.ts). */
  asked?: EmbeddingsAsked;
  /** Set when the answer is handed on whole: it comes back whole too, its strings masked of these secrets. */
  whole?: { secrets: string[] };
}

/** `json`: the part `shape` describes; `whole`: the whole answer, when it was asked for. */
export type ParseReply = { json: Uint8Array; whole?: Uint8Array } | { error: ThreadError };

const decoder = new TextDecoder();
const encoder = new TextEncoder();

parentPort!.on('message', ({ text, shape, limits, asked, whole }: ParseRequest) => {
  try {
    const json = decoder.decode(text);
    checkStructure(json, asked ? limitsAnswering(asked, limits) : limits);
    const fragments = whole && new SecretFragments(whole.secrets);
    const value = fragments && !fragments.empty ? maskedJson(parsedAnswer(json), (string) => fragments.mask(string)) : parsedAnswer(json);
    const pruned = encoded(prune(value, shape, new VectorTally(asked)));
    const all = whole && encoded(value);
    parentPort!.postMessage({ json: pruned, ...(all && { whole: all }) } satisfies ParseReply, [pruned.buffer as ArrayBuffer, ...(all ? [all.buffer as ArrayBuffer] : [])]);
  } catch (error) {
    const { message, sqlstate, hint } = error as PgError;
    parentPort!.postMessage({ error: { message, sqlstate, hint } } satisfies ParseReply);
  }
});

function encoded(value: unknown): Uint8Array {
  return encoder.encode(JSON.stringify(value) ?? 'null');
}
