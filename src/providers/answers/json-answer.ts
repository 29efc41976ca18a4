// A JSON API's answer (../pgai/json-api.ts) read as its caller needs it: the part a shape describes and, of an
// answer the caller hands on whole (pgai's chat completions, rerankings, moderations), the whole. A small answer is
// parsed on the event loop; a big one in a worker thread (pool.ts), which also writes the whole out again, masked of
// the request's secrets, so that the event loop neither parses nor writes it (json-text.ts): 7.6 MB of `{}` handed
// on whole by ai.openai_chat_complete held every session for 1.5 s, and a list of 120,000 models for seconds.

import { JsonText } from '../../json-text.js';
import { currentAsker } from '../asker.js';
import type { AnswerKind } from '../response-cap.js';
import { INLINE_ANSWER_BYTES } from './answer-body.js';
import type { EmbeddingsAsked } from './embeddings-asked.js';
import { parseInThread } from './pool.js';
import { parsedAnswer, prune, type Shape } from './shape.js';
import { STRUCTURE_LIMITS } from './structure.js';
import { VectorTally } from './vector-tally.js';

export interface JsonReading {
  /** What the caller reads of the answer; of one it hands on whole, what the answer's usage and model are read from. */
  shape: Shape;
  /** Whether the caller hands the answer on whole. */
  whole: boolean;
  /** What an embeddings request asked for: the answer is held to it (vector-tally.ts). */
  asked?: EmbeddingsAsked;
}

export interface JsonAnswer {
  /** The part of the answer the reading's shape describes. */
  read: unknown;
  /** The whole answer, when the caller hands it on: its value when small, else its JSON text, masked. */
  whole?: unknown;
}

const decoder = new TextDecoder();

/** The bytes of an answer, which answer-body.ts passes on in one piece (an error's first bytes in a few). */
export async function answerBytes(body: ReadableStream<Uint8Array> | null): Promise<Uint8Array> {
  const pieces: Uint8Array[] = [];
  if (body) for await (const piece of body) pieces.push(piece);
  return pieces.length === 1 ? pieces[0]! : Buffer.concat(pieces);
}

/** The answer's JSON text read as `reading` says; the secrets are those a whole answer parsed in a thread is masked of. */
export async function readJson(text: Uint8Array, reading: JsonReading, kind: AnswerKind, secrets: ReadonlyArray<string | undefined>): Promise<JsonAnswer> {
  const { shape, asked } = reading;
  if (text.byteLength <= INLINE_ANSWER_BYTES) {
    const value = parsedAnswer(decoder.decode(text));
    return { read: prune(value, shape, new VectorTally(asked)), ...(reading.whole && { whole: value }) };
  }
  const whole = reading.whole ? { secrets: secrets.filter((secret) => secret !== undefined) } : undefined;
  const parsed = await parseInThread({ text, shape, limits: STRUCTURE_LIMITS[kind], ...(asked && { asked }), ...(whole && { whole }) }, currentAsker());
  return { read: JSON.parse(decoder.decode(parsed.json)), ...(parsed.whole && { whole: new JsonText(parsed.whole) }) };
}
