// Embeddings asked for one text at a time (pg_llm_get_embedding once per row, its calls running concurrently) go
// to the provider together: requests that arrive within a few milliseconds of each other share one request of up
// to the provider's batch size. Fewer requests for the same tokens, so requests-per-minute limits go further. A
// caller that is cancelled leaves its batch at once; the request stops only when every caller in it has gone.

import type { EmbedRequest, EmbedResult, Provider } from './provider.js';

/** How long the first request of a batch waits for others: small beside the provider's own time. */
export const DEFAULT_BATCH_WINDOW_MS = 2;

interface Waiting {
  request: EmbedRequest;
  resolve: (result: EmbedResult) => void;
  reject: (reason: unknown) => void;
  /** Set while the member waits or its batch runs: what its cancel does there. */
  onAbort: () => void;
}

export function batchedEmbeddings(provider: Provider, windowMs = DEFAULT_BATCH_WINDOW_MS): Provider {
  let batch: Waiting[] = [];
  let size = 0;
  let timer: NodeJS.Timeout | undefined;

  const flush = (): void => {
    clearTimeout(timer);
    timer = undefined;
    const members = batch;
    batch = [];
    size = 0;
    if (members.length > 0) void send(provider, members);
  };

  return {
    ...provider,
    embed(request) {
      request.signal.throwIfAborted();
      // A request as large as a batch gains nothing from waiting.
      if (request.texts.length >= provider.embeddingBatchSize) return provider.embed(request);
      if (size + request.texts.length > provider.embeddingBatchSize) flush();
      return new Promise<EmbedResult>((resolve, reject) => {
        const member: Waiting = {
          request,
          resolve,
          reject,
          onAbort: () => {
            batch = batch.filter((other) => other !== member);
            size -= request.texts.length;
            reject(request.signal.reason);
          },
        };
        request.signal.addEventListener('abort', () => member.onAbort(), { once: true });
        batch.push(member);
        size += request.texts.length;
        if (size >= provider.embeddingBatchSize) flush();
        else timer ??= setTimeout(flush, windowMs);
      });
    },
  };
}

/** One request for the whole batch; each member gets its own vectors, and its share of the usage. */
async function send(provider: Provider, members: Waiting[]): Promise<void> {
  const stop = new AbortController();
  let active = members.length;
  for (const member of members) {
    member.onAbort = () => {
      member.reject(member.request.signal.reason);
      if (--active === 0) stop.abort();
    };
  }
  const texts = members.flatMap((member) => member.request.texts);
  try {
    const result = await provider.embed({ texts, signal: stop.signal });
    let offset = 0;
    for (const member of members) {
      const count = member.request.texts.length;
      member.resolve({
        vectors: result.vectors.slice(offset, offset + count),
        model: result.model,
        usage: { promptTokens: Math.round((result.usage.promptTokens * count) / texts.length), completionTokens: 0 },
      });
      offset += count;
    }
  } catch (error) {
    for (const member of members) member.reject(error);
  } finally {
    for (const member of members) member.onAbort = () => {};
  }
}
