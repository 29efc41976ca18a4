// The vectors of one big embeddings answer, counted in the thread that parses it (parse-worker.ts) before any of
// them comes to the event loop every session shares: no more than the request's texts, each of the dimensions the
// model config asks for, none over MAX_EMBEDDING_DIMENSIONS, and at most MAX_ANSWER_NUMBERS in all. The values of
// the answer's JSON are held to as many before it is parsed at all, which spares the thread too. A server any role
// may name answered 1,000 vectors of 15,000 numbers for one text, 85 MB of JSON within every cap on an answer, which
// the event loop took seconds to read (and every session waited) before the adapter found it had too many.

import { PgError, SqlState } from '../../../proxy/pg-error.js';
import type { JsonLimits } from '../../json-structure.js';
import { checkDimensionLimit, dimensionsOf, MAX_EMBEDDING_DIMENSIONS } from '../embedding-dimensions.js';
import { checkDimensions } from '../embedding-vectors.js';
import { ProviderError } from '../errors.js';
import type { EmbeddingsAsked } from './embeddings-asked.js';

/**
 * OpenAI's most texts a request (2,048), each of 4,096 numbers, the most of the embedding models in use; as base64
 * float32s, 45 MB for the event loop to read. A model of more dimensions gets its answers with fewer texts a request.
 */
export const MAX_ANSWER_NUMBERS = 2048 * 4096;
/** Generous counts of the values an answer has besides its vectors' numbers: each vector's (index, object), and others. */
const VALUES_A_VECTOR = 16;
const OTHER_VALUES = 1024;

/**
 * The limits of an answer's JSON, its values held to what a vector for each text may have. The dimensions asked for
 * are left to the count after parsing, whose error says what the answer got wrong.
 */
export function limitsAnswering(asked: EmbeddingsAsked, limits: JsonLimits): JsonLimits {
  const numbers = Math.min(MAX_ANSWER_NUMBERS, asked.texts * MAX_EMBEDDING_DIMENSIONS);
  return { ...limits, values: Math.min(limits.values, numbers + asked.texts * VALUES_A_VECTOR + OTHER_VALUES) };
}

export class VectorTally {
  private vectors = 0;
  private numbers = 0;

  /** `asked` is undefined where the request is not known (a batch's results): the bounds of every answer hold. */
  constructor(private readonly asked: EmbeddingsAsked | undefined) {}

  /** Counts an embedding of the answer (numbers, base64, or what is neither); throws at the first bound it passes. */
  count(embedding: unknown): void {
    checkDimensionLimit(embedding);
    const dimensions = dimensionsOf(embedding);
    if (this.asked && ++this.vectors > this.asked.texts) {
      throw new ProviderError(`the model provider answered more embeddings than the ${this.asked.texts} texts it was asked for`);
    }
    if (this.asked?.dimensions !== undefined && Number.isInteger(dimensions) && dimensions > 0) checkDimensions('the model provider', dimensions, this.asked.dimensions);
    this.numbers += dimensions;
    if (this.numbers <= MAX_ANSWER_NUMBERS) return;
    throw new PgError(SqlState.ProgramLimitExceeded, `the model provider's answer has more than ${MAX_ANSWER_NUMBERS} numbers in its embeddings`, {
      hint: "Ask for fewer texts a request (embedding_batch_size in the model config) or fewer dimensions, or check the model's base_url.",
    });
  }
}
