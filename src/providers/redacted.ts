// A provider whose answers, streamed chunks, model names and errors carry no piece of the secrets it was built
// with (its API key, the credentials in its config): a provider may echo them, whole or in part, and what it says
// goes on to the client, the audit and trace rows, the server's log (through the errors the proxy raises there)
// and the proxy's own.

import type { SecretFragments } from '../crypto/secret-fragments.js';
import type { ApiAnswer, ApiRequest, ChatResult, Provider, StreamEvent } from './provider.js';

export function redacted(provider: Provider, fragments: SecretFragments): Provider {
  if (fragments.empty) return provider;
  const result = (answer: ChatResult): ChatResult => ({ ...answer, text: fragments.mask(answer.text), model: fragments.mask(answer.model) });
  const masked = (error: unknown): unknown => {
    // An abort or a timeout says nothing of the provider's (and a DOMException's message cannot be set).
    if (!(error instanceof Error) || error instanceof DOMException) return error;
    const { detail, hint } = error as { detail?: string; hint?: string };
    return Object.assign(error, {
      message: fragments.mask(error.message),
      ...(detail === undefined ? {} : { detail: fragments.mask(detail) }),
      ...(hint === undefined ? {} : { hint: fragments.mask(hint) }),
    });
  };
  const send = provider.send?.bind(provider);
  return {
    embeddingBatchSize: provider.embeddingBatchSize,
    ...(send && {
      async send(request: ApiRequest): Promise<ApiAnswer> {
        try {
          const answer = await send(request);
          return { ...answer, body: maskedStrings(answer.body, fragments), model: fragments.mask(answer.model) };
        } catch (error) {
          throw masked(error);
        }
      },
    }),
    async chat(request) {
      try {
        return result(await provider.chat(request));
      } catch (error) {
        throw masked(error);
      }
    },
    async *stream(request): AsyncIterable<StreamEvent> {
      const chunks = fragments.stream();
      try {
        for await (const event of provider.stream(request)) {
          yield event.kind === 'chunk' ? { kind: 'chunk', text: chunks.push(event.text) } : { kind: 'done', result: result(event.result) };
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

/** Every string of a JSON value (keys too) with the secrets masked. */
function maskedStrings(value: unknown, fragments: SecretFragments): unknown {
  if (typeof value === 'string') return fragments.mask(value);
  if (Array.isArray(value)) return value.map((item) => maskedStrings(item, fragments));
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(Object.entries(value).map(([key, item]) => [fragments.mask(key), maskedStrings(item, fragments)]));
}
