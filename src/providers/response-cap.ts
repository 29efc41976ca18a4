// A provider's answer is read up to a number of bytes, counted as they arrive (after decompression), whether the
// SDK reads it whole or as a stream: any role may point a model at a server of its own, and an answer without
// bounds would take the proxy's memory and event loop from every session. At the cap the body is cancelled, which
// aborts the request and frees its connection.

import { Response } from 'undici';
import { PgError, SqlState } from '../../proxy/pg-error.js';

/**
 * 54000 rather than the provider's 39001: the operator's limit stopped the answer, asking again gets the same, and
 * the error says which setting decides.
 */
export class AnswerTooLarge extends PgError {
  constructor(limit: number) {
    super(SqlState.ProgramLimitExceeded, `the model provider's answer is larger than the limit of ${limit} bytes`, {
      hint: "The proxy's --max-response-bytes (PG_LLM_MAX_RESPONSE_BYTES) caps every answer; a model config's max_response_bytes may only lower it. For embeddings, a smaller embedding_batch_size makes smaller answers.",
    });
  }
}

export function capped(response: Response, limit: number): Response {
  if (!response.body) return response;
  let seen = 0;
  const counter = new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, controller) {
      seen += chunk.byteLength;
      if (seen > limit) controller.error(new AnswerTooLarge(limit));
      else controller.enqueue(chunk);
    },
  });
  return new Response(response.body.pipeThrough(counter), response);
}
