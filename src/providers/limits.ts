// How many model calls may run at once, shared by every session of the process: one limit for all calls
// (--max-model-calls) and one per model (its config's max_concurrency). Waiting calls are served first come, first
// served, and a cancelled call leaves the queue at once.

import { PgError } from '../../proxy/pg-error.js';
import type { ChatRequest, Provider } from './provider.js';

/** A counting semaphore with a FIFO queue of waiters. */
export class CallLimit {
  private running = 0;
  private readonly waiting: Array<{ start: () => void; signal: AbortSignal; onAbort: () => void }> = [];

  constructor(private size: number) {}

  resize(size: number): void {
    this.size = size;
    this.startWaiting();
  }

  async acquire(signal: AbortSignal): Promise<() => void> {
    signal.throwIfAborted();
    if (this.running < this.size) {
      this.running++;
      return this.releaser();
    }
    await new Promise<void>((resolve, reject) => {
      const waiter = {
        signal,
        start: () => {
          signal.removeEventListener('abort', waiter.onAbort);
          resolve();
        },
        onAbort: () => {
          this.waiting.splice(this.waiting.indexOf(waiter), 1);
          reject(signal.reason);
        },
      };
      signal.addEventListener('abort', waiter.onAbort, { once: true });
      this.waiting.push(waiter);
    });
    return this.releaser();
  }

  private releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.running--;
      this.startWaiting();
    };
  }

  private startWaiting(): void {
    while (this.running < this.size && this.waiting.length > 0) {
      this.running++;
      this.waiting.shift()!.start();
    }
  }
}

const DEFAULT_PROCESS_LIMIT = 256;
const processLimit = new CallLimit(DEFAULT_PROCESS_LIMIT);
const modelLimits = new Map<string, { size: number; limit: CallLimit }>();

/** Sets the process-wide limit (--max-model-calls). */
export function setProcessCallLimit(size: number): void {
  processLimit.resize(size);
}

/** The provider with its calls counted against the process's limit and the model's own max_concurrency. */
export function limited(provider: Provider, modelKey: string, config: Record<string, unknown>): Provider {
  const size = config.max_concurrency === undefined ? undefined : Number(config.max_concurrency);
  if (size !== undefined && !(Number.isInteger(size) && size > 0)) {
    throw new PgError('22023', 'max_concurrency must be a positive whole number');
  }
  const limits = [processLimit, ...(size === undefined ? [] : [modelLimit(modelKey, size)])];
  const acquireAll = async (request: ChatRequest): Promise<() => void> => {
    const releases: Array<() => void> = [];
    try {
      for (const limit of limits) releases.push(await limit.acquire(request.signal));
    } catch (error) {
      for (const release of releases) release();
      throw error;
    }
    return () => releases.forEach((release) => release());
  };
  return {
    async chat(request) {
      const release = await acquireAll(request);
      try {
        return await provider.chat(request);
      } finally {
        release();
      }
    },
    async *stream(request) {
      const release = await acquireAll(request);
      try {
        yield* provider.stream(request);
      } finally {
        release();
      }
    },
  };
}

function modelLimit(key: string, size: number): CallLimit {
  const existing = modelLimits.get(key);
  if (existing) {
    if (existing.size !== size) {
      existing.limit.resize(size);
      existing.size = size;
    }
    return existing.limit;
  }
  const limit = new CallLimit(size);
  modelLimits.set(key, { size, limit });
  return limit;
}
