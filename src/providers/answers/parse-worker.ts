// A thread that parses big provider answers (pool.ts): it checks each answer's structure, parses it, and sends back
// only the part its adapter reads, as JSON text, so that the event loop parses a small text, never the answer. The
// text goes back as the bytes the SDK reads, moved rather than copied: sent as a string it was copied once into the
// event loop's heap and encoded there again (an embeddings answer's 80 MB of base64 vectors took some 200 ms). An
// answer handed on whole (json-answer.ts) comes back whole too, masked and written out here, for the event loop to
// pass on as it is. It also writes big request bodies (request-body.ts), as the bytes the SDK sends, and parses the
// big arguments of a statement's calls (src/intercept/collected-calls.ts).

import { parentPort } from 'node:worker_threads';
import { PgError } from '../../../proxy/pg-error.js';
import { maskedJson, SecretFragments } from '../../crypto/secret-fragments.js';
import type { ThreadError } from '../../sql/parse-task.js';
import { parsedAnswer, prune, type Shape } from './shape.js';
import { exceededJsonLimit, type JsonLimits } from '../../json-structure.js';
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
  /** Set when the pruned answer is wanted as a string (an SDK's text()), not as the bytes of a stream. */
  asString?: true;
}

/**
 * A big request body to write as JSON: JSON.stringify of a prompt of megabytes of quotes and backslashes takes the
 * better part of a second, which on the event loop every other session would wait out (review L3).
 */
export interface EncodeRequest {
  encode: unknown;
}

/** JSON a statement's call got as its arguments (src/intercept/collected-calls.ts), parsed within `limits`. */
export interface ValueRequest {
  value: Uint8Array;
  limits: JsonLimits;
}

/**
 * `json`: the part `shape` describes (or the request body written); `whole`: the whole answer, when it was asked for.
 * `parsed`: a ValueRequest's value, or which of its limits it passed (`exceeded`).
 */
export type ParseReply = { json: Uint8Array; whole?: Uint8Array } | { string: string } | { parsed: unknown } | { exceeded: string } | { error: ThreadError };

const decoder = new TextDecoder();
const encoder = new TextEncoder();

parentPort!.on('message', (request: ParseRequest | EncodeRequest | ValueRequest) => {
  try {
    if ('encode' in request) {
      const json = encoded(request.encode);
      parentPort!.postMessage({ json } satisfies ParseReply, [json.buffer as ArrayBuffer]);
      return;
    }
    if ('value' in request) {
      const text = decoder.decode(request.value);
      const exceeded = exceededJsonLimit(text, request.limits);
      parentPort!.postMessage((exceeded === undefined ? { parsed: JSON.parse(text) } : { exceeded }) satisfies ParseReply);
      return;
    }
    const { text, shape, limits, asked, whole } = request;
    const json = decoder.decode(text);
    checkStructure(json, asked ? limitsAnswering(asked, limits) : limits);
    const fragments = whole && new SecretFragments(whole.secrets);
    const value = fragments && !fragments.empty ? maskedJson(parsedAnswer(json), (string) => fragments.mask(string)) : parsedAnswer(json);
    if (request.asString) {
      parentPort!.postMessage({ string: JSON.stringify(prune(value, shape, new VectorTally(asked))) ?? 'null' } satisfies ParseReply);
      return;
    }
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
