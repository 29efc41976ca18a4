// How many model calls may run at once, and how many requests and tokens a model may be sent per minute, shared
// by every session of the process: one limit for all calls (--max-model-calls), of which one role may hold a share
// (--max-model-calls-per-role), and per model its config's max_concurrency, requests_per_minute and
// tokens_per_minute. Waiting calls take turns by login role (asker.ts, call-limit.ts), and a cancelled call leaves the queue at once.
// A call runs as its asker's (asker.ts), so the bytes of its answer count against that role's share too.

import { PgError } from '../../proxy/pg-error.js';
import { labelValue } from '../metrics.js';
import { asAsker, type Asker, shareOf, streamAsAsker } from './asker.js';
import { CallLimit } from './call-limit.js';
import type { ApiAnswer, ApiRequest, ChatRequest, ChatResult, Provider, Usage } from './provider.js';
import { RateBudget } from './rate-limit.js';
import { estimateTokens } from './tokens.js';

const DEFAULT_PROCESS_LIMIT = 256;
const processLimit = new CallLimit(DEFAULT_PROCESS_LIMIT, defaultShare(DEFAULT_PROCESS_LIMIT));
/** Per model key: the limits its config asked for, and the instance they are shown under, kept for the life of the process. */
const modelLimits = new Map<string, { instance: string; calls?: CallLimit; requests?: RateBudget; tokens?: RateBudget }>();

/** A model's own limits as the admin dashboard shows them: the calls running and those waiting for each limit. */
export interface ModelQueue {
  instance: string;
  maxConcurrency?: number;
  running?: number;
  waitingForTurn: number;
  waitingForRequests: number;
  waitingForTokens: number;
}

/**
 * Sets the process-wide limit (--max-model-calls) and the share of it one asker may hold
 * (--max-model-calls-per-role), by default a quarter: it takes four roles to fill the proxy.
 */
export function setProcessCallLimit(size: number, perAsker = defaultShare(size)): void {
  processLimit.resize(size, perAsker);
}

function defaultShare(size: number): number {
  return Math.ceil(size / 4);
}

/** Calls waiting for a process-wide slot, of every role. */
export function callsWaiting(): number {
  return processLimit.queued;
}

/** The process-wide slots: how many there are, how many calls hold one, how many wait. */
export function processSlots(): { size: number; running: number; waiting: number } {
  return { size: processLimit.capacity, running: processLimit.active, waiting: processLimit.queued };
}

/** The models with limits of their own, those with calls waiting first. */
export function modelQueues(): ModelQueue[] {
  const limitedModels = [...modelLimits.values()].filter((limits) => limits.calls ?? limits.requests ?? limits.tokens);
  const queues = limitedModels.map(({ instance, calls, requests, tokens }) => ({
    instance,
    ...(calls && { maxConcurrency: calls.capacity, running: calls.active }),
    waitingForTurn: calls?.queued ?? 0,
    waitingForRequests: requests?.queued ?? 0,
    waitingForTokens: tokens?.queued ?? 0,
  }));
  const waiting = (queue: ModelQueue): number => queue.waitingForTurn + queue.waitingForRequests + queue.waitingForTokens;
  return queues.sort((a, b) => waiting(b) - waiting(a));
}

/** The provider with its calls held to the process's limit and the model's own, shown under `instance`. */
export function limited(provider: Provider, modelKey: string, config: Record<string, unknown>, instance: string): Provider {
  const limits = modelLimitsFor(modelKey, config, instance);
  /** Waits for a turn and the budget; the returned function gives the turn back, told what was really spent. */
  const admit = async (asker: Asker, estimatedTokens: number, signal: AbortSignal): Promise<(usage?: Usage) => void> => {
    const releases: Array<() => void> = [];
    const refunds: Array<() => void> = [];
    const share = shareOf(asker);
    // The model's own limits first and the process's slot last: a call waiting for its model's turn or budget must
    // not hold a slot that calls to other models could use.
    try {
      if (limits.calls) releases.push(await limits.calls.acquire(signal, share));
      await limits.requests?.take(1, signal);
      if (limits.requests) refunds.push(() => limits.requests!.adjust(-1));
      await limits.tokens?.take(estimatedTokens, signal);
      if (limits.tokens) refunds.push(() => limits.tokens!.adjust(-estimatedTokens));
      releases.push(await processLimit.acquire(signal, share));
    } catch (error) {
      // A call that never ran gives back its turn and the budget it took.
      for (const undo of [...releases, ...refunds]) undo();
      throw error;
    }
    return (usage) => {
      if (usage) limits.tokens?.adjust(usage.promptTokens + usage.completionTokens - estimatedTokens);
      for (const release of releases) release();
    };
  };
  const send = provider.send?.bind(provider);
  return {
    embeddingBatchSize: provider.embeddingBatchSize,
    ...(send && {
      async send(request: ApiRequest): Promise<ApiAnswer> {
        const release = await admit(request.asker, request.estimatedTokens, request.signal);
        let usage: Usage | undefined;
        try {
          const answer = await asAsker(request.asker, () => send(request));
          usage = answer.usage;
          return answer;
        } finally {
          release(usage);
        }
      },
    }),
    async chat(request) {
      const release = await admit(request.asker, chatEstimate(request), request.signal);
      let result: ChatResult | undefined;
      try {
        return (result = await asAsker(request.asker, () => provider.chat(request)));
      } finally {
        release(result?.usage);
      }
    },
    async *stream(request) {
      const release = await admit(request.asker, chatEstimate(request), request.signal);
      let usage: Usage | undefined;
      try {
        for await (const event of streamAsAsker(request.asker, provider.stream(request))) {
          if (event.kind === 'done') usage = event.result.usage;
          yield event;
        }
      } finally {
        release(usage);
      }
    },
    async embed(request) {
      const release = await admit(request.asker, request.texts.reduce((sum, text) => sum + estimateTokens(text), 0), request.signal);
      let usage: Usage | undefined;
      try {
        const result = await asAsker(request.asker, () => provider.embed(request));
        usage = result.usage;
        return result;
      } finally {
        release(usage);
      }
    },
  };
}

/** What a chat request counts against a tokens-per-minute limit before its usage is known, as providers count it. */
function chatEstimate({ prompt, history = [], options }: ChatRequest): number {
  const text = [options.system ?? '', ...history.map((message) => message.content), prompt].join('');
  return estimateTokens(text) + (options.maxTokens ?? 0);
}

/** The limits of one model key (see index.ts: the key holds the limits themselves, so they never change under it). */
function modelLimitsFor(key: string, config: Record<string, unknown>, instance: string) {
  let limits = modelLimits.get(key);
  if (!limits) {
    const concurrency = positive(config, 'max_concurrency');
    const requestsPerMinute = positive(config, 'requests_per_minute');
    const tokensPerMinute = positive(config, 'tokens_per_minute');
    limits = {
      instance: labelValue(instance),
      ...(concurrency === undefined ? {} : { calls: new CallLimit(concurrency) }),
      ...(requestsPerMinute === undefined ? {} : { requests: new RateBudget(requestsPerMinute) }),
      ...(tokensPerMinute === undefined ? {} : { tokens: new RateBudget(tokensPerMinute) }),
    };
    modelLimits.set(key, limits);
  }
  return limits;
}

function positive(config: Record<string, unknown>, key: string): number | undefined {
  const value = config[key];
  if (value === undefined) return undefined;
  if (!(Number.isInteger(value) && (value as number) > 0)) throw new PgError('22023', `${key} must be a positive whole number`);
  return value as number;
}
