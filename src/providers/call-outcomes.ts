// What became of each model call, for the operator: a failure goes to the proxy's log at warn with the model
// instance (the client's error says what failed; the log tells the operator which model fails, and how often), and
// a call its caller cancelled is counted on /metrics. The outermost of a provider's wrappers (index.ts), so that a
// call is seen once as its caller saw it, however many requests and retries it took, whether it waited for its
// turn or ran.

import { countCancelledCall } from './metrics.js';
import type { Provider, StreamEvent } from './provider.js';
import { providerLog } from './provider-log.js';

export function watched(provider: Provider, instance: string, providerName: string, modelName: string): Provider {
  const ended = (error: unknown, signal: AbortSignal): unknown => {
    if (signal.aborted) countCancelledCall(providerName, modelName);
    else {
      // The message was masked of the provider's secrets further in (redacted.ts).
      const { sqlstate, message } = error as { sqlstate?: string; message?: string };
      providerLog().warn({ model_instance: instance, provider: providerName, sqlstate, err: message ?? String(error) }, 'model call failed');
    }
    return error;
  };
  return {
    embeddingBatchSize: provider.embeddingBatchSize,
    async chat(request) {
      try {
        return await provider.chat(request);
      } catch (error) {
        throw ended(error, request.signal);
      }
    },
    async *stream(request): AsyncIterable<StreamEvent> {
      let settled = false;
      try {
        for await (const event of provider.stream(request)) {
          settled = event.kind === 'done';
          yield event;
        }
      } catch (error) {
        settled = true;
        throw ended(error, request.signal);
      } finally {
        // A caller that cancels may stop reading the stream rather than wait for its failure.
        if (!settled && request.signal.aborted) countCancelledCall(providerName, modelName);
      }
    },
    async embed(request) {
      try {
        return await provider.embed(request);
      } catch (error) {
        throw ended(error, request.signal);
      }
    },
  };
}
