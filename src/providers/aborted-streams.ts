// The SDKs end a stream's iteration quietly when its request is aborted (openai's and Anthropic's iterators return
// on an abort error), so an adapter would take the chunks read so far for the whole answer, and its caller would
// store, audit and count them as one. Once the caller has cancelled, the stream ends with the abort instead.

import type { Provider, StreamEvent } from './provider.js';

export function abortedStreamsFail(provider: Provider): Provider {
  return {
    ...provider,
    async *stream(request): AsyncIterable<StreamEvent> {
      for await (const event of provider.stream(request)) {
        request.signal.throwIfAborted();
        yield event;
      }
    },
  };
}
