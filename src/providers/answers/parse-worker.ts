// A thread that parses big provider answers (pool.ts): it checks each answer's structure, parses it, and sends back
// only the part its adapter reads, as JSON text, so that the event loop parses a small text, never the answer.

import { parentPort } from 'node:worker_threads';
import { PgError } from '../../../proxy/pg-error.js';
import type { ThreadError } from '../../sql/parse-task.js';
import { prune, type Shape } from './shape.js';
import { checkStructure, type StructureLimits } from './structure.js';

export interface ParseRequest {
  text: Uint8Array;
  shape: Shape;
  limits: StructureLimits;
}

export type ParseReply = { json: string } | { error: ThreadError };

const decoder = new TextDecoder();

parentPort!.on('message', ({ text, shape, limits }: ParseRequest) => {
  try {
    checkStructure(text, limits);
    parentPort!.postMessage({ json: JSON.stringify(prune(parsed(text), shape)) ?? 'null' } satisfies ParseReply);
  } catch (error) {
    const { message, sqlstate, hint } = error as PgError;
    parentPort!.postMessage({ error: { message, sqlstate, hint } } satisfies ParseReply);
  }
});

function parsed(text: Uint8Array): unknown {
  try {
    return JSON.parse(decoder.decode(text));
  } catch {
    throw new PgError('39001', "the model provider's answer is not valid JSON", {
      hint: 'Check the base_url of the model: the server there does not answer as the provider API does.',
    });
  }
}
