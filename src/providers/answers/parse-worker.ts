// A thread that parses big provider answers (pool.ts): it checks each answer's structure, parses it, and sends back
// only the part its adapter reads, as JSON text, so that the event loop parses a small text, never the answer. The
// text goes back as the bytes the SDK reads, moved rather than copied: sent as a string it was copied once into the
// event loop's heap and encoded there again (an embeddings answer's 80 MB of base64 vectors took some 200 ms).

import { parentPort } from 'node:worker_threads';
import { PgError } from '../../../proxy/pg-error.js';
import type { ThreadError } from '../../sql/parse-task.js';
import { prune, type Shape } from './shape.js';
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
}

export type ParseReply = { json: Uint8Array } | { error: ThreadError };

const decoder = new TextDecoder();
const encoder = new TextEncoder();

parentPort!.on('message', ({ text, shape, limits, asked }: ParseRequest) => {
  try {
    const json = decoder.decode(text);
    checkStructure(json, asked ? limitsAnswering(asked, limits) : limits);
    const pruned = encoder.encode(JSON.stringify(prune(parsed(json), shape, new VectorTally(asked))) ?? 'null');
    parentPort!.postMessage({ json: pruned } satisfies ParseReply, [pruned.buffer as ArrayBuffer]);
  } catch (error) {
    const { message, sqlstate, hint } = error as PgError;
    parentPort!.postMessage({ error: { message, sqlstate, hint } } satisfies ParseReply);
  }
});

function parsed(json: string): unknown {
  try {
    return JSON.parse(json);
  } catch {
    throw new PgError('39001', "the model provider's answer is not valid JSON", {
      hint: 'Check the base_url of the model: the server there does not answer as the provider API does.',
    });
  }
}
