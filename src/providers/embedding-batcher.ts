// Embeddings asked for one text at a time (pg_llm_get_embedding once per row, its calls running concurrently) go
// to the provider together: requests that arrive within a few milliseconds of each other share one request of up
// to the provider's batch size. Fewer requests for the same tokens, so requests-per-minute limits go further. A
// caller that is cancelled leaves its batch at once; the request stops only when every caller in it has gone. A batch
// holds one role's requests only, so that its request counts against that role's share of the proxy's limits and its
// day's budget; the callers may be calls of several statements, whose caps each hold and are charged their own share
// of the request (src/cost/shared-spending.ts), the part of it their texts are.

import { currentSpending, spendingWithin, type Spending } from '../cost/statement-spending.js';
import { sharedSpending } from '../cost/shared-spending.js';
import type { Asker } from './asker.js';
import type { EmbedRequest, EmbedResult, Provider } from './provider.js';
import { estimateTokens } from './tokens.js';

/** How long the first request of a batch waits for others: small beside the provider's own time. */
export const DEFAULT_BATCH_WINDOW_MS = 2;

interface Waiting {
  request: EmbedRequest;
  /** The statement whose call asked for it, if any. */
  spending: Spending | undefined;
  resolve: (result: EmbedResult) => void;
  reject: (reason: unknown) => void;
  /** Set while the member waits or its batch runs: what its cancel does there. */
  onAbort: () => void;
  /** Takes its cancel listener off the caller's signal, which may outlive the request (a statement's). */
  stopListening: () => void;
}

interface Batch {
  members: Waiting[];
  /** Texts of its members. */
  size: number;
  timer: NodeJS.Timeout;
}

export function batchedEmbeddings(provider: Provider, windowMs = DEFAULT_BATCH_WINDOW_MS): Provider {
  /** The batch still taking members, by asker: a request is made for one asker, whose share of the limits it uses. */
  const open = new Map<Asker, Batch>();

  const flush = (asker: Asker): void => {
    const batch = open.get(asker);
    if (!batch) return;
    clearTimeout(batch.timer);
    open.delete(asker);
    if (batch.members.length > 0) void send(provider, batch.members, asker);
  };

  const start = (asker: Asker): Batch => {
    const batch = { members: [], size: 0, timer: setTimeout(() => flush(asker), windowMs) };
    open.set(asker, batch);
    return batch;
  };

  return {
    ...provider,
    embed(request) {
      request.signal.throwIfAborted();
      // A request as large as a batch gains nothing from waiting, and one cut to the provider's limits already would
      // go past them with others.
      if (request.whole || request.texts.length >= provider.embeddingBatchSize) return provider.embed(request);
      const { asker } = request;
      if ((open.get(asker)?.size ?? 0) + request.texts.length > provider.embeddingBatchSize) flush(asker);
      const batch = open.get(asker) ?? start(asker);
      return new Promise<EmbedResult>((resolve, reject) => {
        const listener = (): void => member.onAbort();
        const member: Waiting = {
          request,
          spending: currentSpending(),
          resolve,
          reject,
          onAbort: () => {
            batch.members = batch.members.filter((other) => other !== member);
            batch.size -= request.texts.length;
            reject(request.signal.reason);
          },
          stopListening: () => request.signal.removeEventListener('abort', listener),
        };
        request.signal.addEventListener('abort', listener, { once: true });
        batch.members.push(member);
        batch.size += request.texts.length;
        if (batch.size >= provider.embeddingBatchSize) flush(asker);
      });
    },
  };
}

/**
 * One request for the whole batch, charged to the members' statements by their shares (in whatever statement's async
 * context the batch was sent); each member gets its own vectors, and its share of the usage.
 */
async function send(provider: Provider, members: Waiting[], asker: Asker): Promise<void> {
  const stop = new AbortController();
  let active = members.length;
  for (const member of members) {
    member.onAbort = () => {
      member.reject(member.request.signal.reason);
      if (--active === 0) stop.abort();
    };
  }
  const texts = members.flatMap((member) => member.request.texts);
  const shares = sharesOf(members);
  const statements = new Map<Spending, number>();
  members.forEach(({ spending }, i) => spending && statements.set(spending, (statements.get(spending) ?? 0) + shares[i]!));
  try {
    const result = await spendingWithin(statements.size > 0 ? sharedSpending(statements) : undefined, () => provider.embed({ texts, signal: stop.signal, asker }));
    let offset = 0;
    members.forEach((member, i) => {
      const count = member.request.texts.length;
      member.resolve({
        vectors: result.vectors.slice(offset, offset + count),
        model: result.model,
        usage: { promptTokens: Math.round(result.usage.promptTokens * shares[i]!), completionTokens: 0 },
      });
      offset += count;
    });
  } catch (error) {
    for (const member of members) member.reject(error);
  } finally {
    for (const member of members) member.stopListening();
  }
}

/** Each member's part of the batch's request: its texts' share of the estimated tokens (of the texts, when there are none). */
function sharesOf(members: Waiting[]): number[] {
  const tokens = members.map((member) => member.request.texts.reduce((sum, text) => sum + estimateTokens(text), 0));
  const total = tokens.reduce((sum, count) => sum + count, 0);
  if (total > 0) return tokens.map((count) => count / total);
  const texts = members.reduce((sum, member) => sum + member.request.texts.length, 0);
  return members.map((member) => member.request.texts.length / texts);
}
