// A provider's answer is read up to a number of bytes, counted as they arrive (after decompression), whether the
// SDK reads it whole or as a stream: any role may point a model at a server of its own, and an answer without
// bounds would take the proxy's memory and event loop from every session. At the cap the body is cancelled, which
// aborts the request and frees its connection. Chat answers and embeddings have caps of their own (http.ts).

import { Response } from 'undici';
import { PgError, SqlState } from '../../proxy/pg-error.js';
import { shareOf, type Asker } from './asker.js';

export type AnswerKind = 'chat' | 'embedding';

const SETTING: Record<AnswerKind, string> = {
  chat: "The proxy's --max-response-bytes (PG_LLM_MAX_RESPONSE_BYTES) caps chat answers, streamed or whole",
  embedding: "The proxy's --max-embedding-response-bytes (PG_LLM_MAX_EMBEDDING_RESPONSE_BYTES) caps embedding answers; a smaller embedding_batch_size makes smaller ones",
};

/**
 * 54000 rather than the provider's 39001: the operator's limit stopped the answer, asking again gets the same, and
 * the error says which setting decides.
 */
export class AnswerTooLarge extends PgError {
  constructor(limit: number, kind: AnswerKind) {
    super(SqlState.ProgramLimitExceeded, `the model provider's answer is larger than the limit of ${limit} bytes`, {
      hint: `${SETTING[kind]}; a model config's max_response_bytes may only lower it.`,
    });
  }
}

/**
 * The bytes of all the answers being read at once, and their bound: the cap holds one answer, and this keeps many
 * answers at once (one role's statement can make hundreds of calls to a server of its own) from adding up to more
 * than a few caps' worth. One login role (asker.ts) may hold a quarter of that, so that a role whose
 * large answers are held open (a stream that never ends) cannot make every other role's answers fail.
 */
const reading = { bytes: 0, limit: Infinity, byShare: new Map<Asker, number>() };
const ANSWERS_AT_THE_CAP_AT_ONCE = 8;
const ROLES_TO_FILL_THE_LIMIT = 4;

export class AnswersTooLarge extends PgError {
  constructor(limit: number, whose: 'proxy' | 'role') {
    const message = whose === 'proxy'
      ? `the model providers' answers being read at once exceed the proxy's limit of ${limit} bytes`
      : `the model providers' answers being read at once for this role exceed its share of ${limit} bytes`;
    super(SqlState.ProgramLimitExceeded, message, {
      hint: `Retry when fewer large answers are being read${whose === 'role' ? ' for the role' : ''}; the limit is 8 times the larger of --max-response-bytes and --max-embedding-response-bytes, and one role may have a quarter of it.`,
    });
  }
}

/** Sets the bound of all the answers read at once from the operator's largest cap of one answer. */
export function limitAnswersAtOnce(maxResponseBytes: number): void {
  reading.limit = ANSWERS_AT_THE_CAP_AT_ONCE * maxResponseBytes;
}

/**
 * The response whose body stops at `limit` bytes, its bytes counted against its login role's share while it is read;
 * `ended` is called once the body is read, failed or cancelled.
 */
export function capped(response: Response, limit: number, kind: AnswerKind, asker: Asker, ended: () => void = () => undefined): Response {
  if (!response.body) {
    ended();
    return response;
  }
  const source = response.body.getReader();
  const share = shareOf(asker);
  let seen = 0;
  const count = (bytes: number): number => {
    reading.bytes += bytes;
    const rolesBytes = (reading.byShare.get(share) ?? 0) + bytes;
    if (rolesBytes === 0) reading.byShare.delete(share);
    else reading.byShare.set(share, rolesBytes);
    return rolesBytes;
  };
  const release = (): void => {
    count(-seen);
    seen = 0;
    ended();
  };
  const stop = async (controller: ReadableStreamDefaultController<Uint8Array>, error: Error): Promise<void> => {
    release();
    controller.error(error);
    await source.cancel(error).catch(() => undefined);
  };
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      let next: Awaited<ReturnType<typeof source.read>>;
      try {
        next = await source.read();
      } catch (error) {
        release();
        throw error;
      }
      if (next.done) {
        release();
        return controller.close();
      }
      seen += next.value.byteLength;
      const rolesBytes = count(next.value.byteLength);
      if (seen > limit) return stop(controller, new AnswerTooLarge(limit, kind));
      const roleLimit = reading.limit / ROLES_TO_FILL_THE_LIMIT;
      if (rolesBytes > roleLimit) return stop(controller, new AnswersTooLarge(roleLimit, 'role'));
      if (reading.bytes > reading.limit) return stop(controller, new AnswersTooLarge(reading.limit, 'proxy'));
      controller.enqueue(next.value);
    },
    cancel(reason) {
      release();
      return source.cancel(reason);
    },
  });
  return new Response(body, response);
}
