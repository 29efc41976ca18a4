// A provider whose answers, streamed chunks, model names and errors carry no piece of the secrets it was built
// with (its API key, the credentials in its config): a provider may echo them, whole or in part, and what it says
// goes on to the client, the audit and trace rows, the server's log (through the errors the proxy raises there)
// and the proxy's own. So does a batch API's: its answers and errors go into the rows the worker writes and
// llm.queue.last_error (ai.vectorizer_errors), and its failures to the proxy's log.

import { PgError } from '../../proxy/pg-error.js';
import { JsonText } from '../json-text.js';
import { CHARACTERS_A_TURN, maskedJson, type SecretFragments } from '../crypto/secret-fragments.js';
import type { BatchApi, BatchOutcome, BatchState } from './batch-apis.js';
import type { ApiAnswer, ApiRequest, ChatResult, Provider, StreamEvent } from './provider.js';

export function redacted(provider: Provider, fragments: SecretFragments): Provider {
  if (fragments.empty) return provider;
  const result = async (answer: ChatResult): Promise<ChatResult> => ({ ...answer, text: await fragments.maskInTurns(answer.text), model: fragments.mask(answer.model) });
  const masked = (error: unknown): unknown => maskedError(error, fragments);
  const send = provider.send?.bind(provider);
  return {
    embeddingBatchSize: provider.embeddingBatchSize,
    ...(send && {
      async send(request: ApiRequest): Promise<ApiAnswer> {
        try {
          const answer = await send(request);
          // An answer handed on whole as JSON text was masked of the same secrets in the thread that wrote it (json-answer.ts).
          const body = answer.body instanceof JsonText ? answer.body : await maskedStrings(answer.body, fragments);
          return { ...answer, body, model: fragments.mask(answer.model) };
        } catch (error) {
          throw masked(error);
        }
      },
    }),
    async chat(request) {
      try {
        return await result(await provider.chat(request));
      } catch (error) {
        throw masked(error);
      }
    },
    async *stream(request): AsyncIterable<StreamEvent> {
      const chunks = fragments.stream();
      try {
        for await (const event of provider.stream(request)) {
          yield event.kind === 'chunk' ? { kind: 'chunk', text: await chunks.pushInTurns(event.text) } : { kind: 'done', result: await result(event.result) };
        }
      } catch (error) {
        throw masked(error);
      }
    },
    async embed(request) {
      try {
        const embedded = await provider.embed(request);
        return { ...embedded, model: fragments.mask(embedded.model) };
      } catch (error) {
        throw masked(error);
      }
    },
  };
}

/** The batch API with its answers (those that are text), its requests' errors and its failures masked. */
export function redactedBatches<Request, Value>(api: BatchApi<Request, Value>, fragments: SecretFragments): BatchApi<Request, Value> {
  if (fragments.empty) return api;
  const outcome = (said: BatchOutcome<Value>): BatchOutcome<Value> =>
    !said.ok ? { ok: false, error: fragments.mask(said.error) } : typeof said.value === 'string' ? { ...said, value: fragments.mask(said.value) as Value } : said;
  const state = (said: BatchState<Value>): BatchState<Value> => {
    if (said.kind === 'failed') return { kind: 'failed', reason: fragments.mask(said.reason) };
    if (said.kind === 'ended') return { kind: 'ended', outcomes: new Map([...said.outcomes].map(([id, ended]) => [id, outcome(ended)])) };
    return said;
  };
  return {
    submit: (requests, signal, tag) => api.submit(requests, signal, tag).catch((error: unknown) => Promise.reject(maskedError(error, fragments))),
    state: (batchId, signal, tag) => api.state(batchId, signal, tag).then(state, (error: unknown) => Promise.reject(maskedError(error, fragments))),
  };
}

/**
 * The error with its text masked, the text the server raises it with too (error-substitute.ts), which a PgError
 * took from its message when it was made; an abort or a timeout says nothing of the provider's (and a
 * DOMException's message cannot be set).
 */
function maskedError(error: unknown, fragments: SecretFragments): unknown {
  if (!(error instanceof Error) || error instanceof DOMException) return error;
  const { detail, hint } = error as { detail?: string; hint?: string };
  return Object.assign(error, {
    message: fragments.mask(error.message),
    ...(error instanceof PgError ? { serverMessage: fragments.mask(error.serverMessage) } : {}),
    ...(detail === undefined ? {} : { detail: fragments.mask(detail) }),
    ...(hint === undefined ? {} : { hint: fragments.mask(hint) }),
  });
}

/**
 * Every string of a JSON value (keys too) with the secrets masked: the long ones (a chat answer's content) first, a
 * turn of the event loop at a time, then the others at once.
 */
async function maskedStrings(value: unknown, fragments: SecretFragments): Promise<unknown> {
  const long = new Map<string, string>();
  const find = (item: unknown): void => {
    if (typeof item === 'string' && item.length > CHARACTERS_A_TURN) long.set(item, item);
    else if (item !== null && typeof item === 'object') for (const inner of Object.values(item)) find(inner);
  };
  find(value);
  for (const text of long.keys()) long.set(text, await fragments.maskInTurns(text));
  return maskedJson(value, (text) => long.get(text) ?? fragments.mask(text));
}
