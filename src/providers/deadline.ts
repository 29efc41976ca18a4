// timeout_ms as a deadline for a whole request to a provider, its answer's body included. The SDKs' own timeout
// stops at the answer's headers, and undici's bodyTimeout restarts at every chunk, so a server that trickles
// (an SSE comment every few hundred ms, a space at a time of JSON) would otherwise hold its caller, and a
// process-wide model-call slot, for as long as it likes. Any role may point a model at such a server.

import { ProviderError } from './errors.js';

/** 39001 like every provider failure, naming the setting that decides. */
export class ProviderTimedOut extends ProviderError {
  constructor(timeoutMs: number) {
    super(
      `the model provider did not finish answering within timeout_ms (${timeoutMs} ms)`,
      'Raise timeout_ms in the model config: it bounds each request to the provider, a streamed answer included.',
    );
  }
}

export interface Deadline {
  /** Aborted by the caller's signal, or with ProviderTimedOut when the time is up. */
  signal: AbortSignal;
  /** Stops the clock once the answer is read (or failed), so no timer outlives its request. */
  clear(): void;
}

export function deadline(caller: AbortSignal | null | undefined, timeoutMs: number): Deadline {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new ProviderTimedOut(timeoutMs)), timeoutMs);
  // A pending deadline is no reason for the process to stay alive.
  timer.unref();
  const onCallerAbort = (): void => controller.abort(caller!.reason);
  if (caller?.aborted) onCallerAbort();
  else caller?.addEventListener('abort', onCallerAbort, { once: true });
  return {
    signal: controller.signal,
    clear() {
      clearTimeout(timer);
      caller?.removeEventListener('abort', onCallerAbort);
    },
  };
}
