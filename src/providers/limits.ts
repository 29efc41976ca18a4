// How many model calls may run at once, and how many requests and tokens a model may be sent per minute, shared
// by every session of the process: one limit for all calls (--max-model-calls), of which one role may hold a share
// (--max-model-calls-per-role), and per model its config's max_concurrency, requests_per_minute and
// tokens_per_minute. Waiting calls take turns by login role (asker.ts, call-limit.ts), and a cancelled call leaves the queue at once.
// A call runs as its asker's (asker.ts), so the bytes of its answer count against that role's share too.
// Any role may name models without end (pgai's calls take any name), so only models with limits of their own keep
// state here, under a hash of their key, and of those at most MAX_IDLE_MODELS stay once idle.

import { createHash } from 'node:crypto';
import { PgError } from '../../proxy/pg-error.js';
import { labelValue } from '../metrics.js';
import { asAsker, type Asker, shareOf, streamAsAsker } from './asker.js';
import { CallLimit } from './call-limit.js';
import type { ApiAnswer, ApiRequest, ChatRequest, ChatResult, Provider, Usage } from './provider.js';
import { RateBudget } from './rate-limit.js';
import { estimateTokens } from './tokens.js';

const DEFAULT_PROCESS_LIMIT = 256;
const processLimit = new CallLimit(DEFAULT_PROCESS_LIMIT, defaultShare(DEFAULT_PROCESS_LIMIT));
/**
 * How many models' limits are kept, more than a deployment registers; models with calls in flight are kept beyond
 * it. An idle model's limits hold nothing a fresh copy would not, so the least recently used idle ones go first and
 * are made afresh when next used.
 */
const MAX_IDLE_MODELS = 1024;

/** A model's own limits; `inFlight` counts its calls waiting or running, which keep it from being dropped. */
interface ModelLimits {
  instance: string;
  calls?: CallLimit;
  requests?: RateBudget;
  tokens?: RateBudget;
  inFlight: number;
}

/** What a model's config asks of its limits, read once when its provider is built. */
interface LimitSettings {
  concurrency?: number;
  requestsPerMinute?: number;
  tokensPerMinute?: number;
}

/** Per hash of a model key, least recently used first: the limits of models that have some. */
const modelLimits = new Map<string, ModelLimits>();
const NO_LIMITS: ModelLimits = { instance: '', inFlight: 0 };

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
  const queues = [...modelLimits.values()].map(({ instance, calls, requests, tokens }) => ({
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
  const settings = limitSettings(config);
  const hasLimits = Object.keys(settings).length > 0;
  const key = hasLimits ? createHash('sha256').update(modelKey).digest('base64') : '';
  const shownAs = hasLimits ? labelValue(instance) : '';
  // Kept from now on, so that the admin dashboard shows the model before its first call.
  if (hasLimits) modelLimitsFor(key, settings, shownAs);
  /** Waits for a turn and the budget; the returned function gives the turn back, told what was really spent. */
  const admit = async (asker: Asker, estimatedTokens: number, signal: AbortSignal): Promise<(usage?: Usage) => void> => {
    // Looked up for each call, not kept: the entry may have been dropped while idle, and every provider of the key
    // must share the one in the map.
    const limits = hasLimits ? modelLimitsFor(key, settings, shownAs) : NO_LIMITS;
    limits.inFlight++;
    const releases: Array<() => void> = [() => limits.inFlight--];
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

function limitSettings(config: Record<string, unknown>): LimitSettings {
  const concurrency = positive(config, 'max_concurrency');
  const requestsPerMinute = positive(config, 'requests_per_minute');
  const tokensPerMinute = positive(config, 'tokens_per_minute');
  return {
    ...(concurrency === undefined ? {} : { concurrency }),
    ...(requestsPerMinute === undefined ? {} : { requestsPerMinute }),
    ...(tokensPerMinute === undefined ? {} : { tokensPerMinute }),
  };
}

/**
 * The limits of one model key's hash, now its most recently used (see index.ts: the key holds the limits themselves,
 * so they never change under it). Adding one drops the least recently used idle ones beyond MAX_IDLE_MODELS.
 */
function modelLimitsFor(key: string, settings: LimitSettings, instance: string): ModelLimits {
  let limits = modelLimits.get(key);
  if (limits) {
    modelLimits.delete(key);
  } else {
    limits = {
      instance,
      ...(settings.concurrency === undefined ? {} : { calls: new CallLimit(settings.concurrency) }),
      ...(settings.requestsPerMinute === undefined ? {} : { requests: new RateBudget(settings.requestsPerMinute) }),
      ...(settings.tokensPerMinute === undefined ? {} : { tokens: new RateBudget(settings.tokensPerMinute) }),
      inFlight: 0,
    };
    dropIdleBeyond(MAX_IDLE_MODELS - 1);
  }
  modelLimits.set(key, limits);
  return limits;
}

/** Drops idle models' limits, least recently used first, until `size` are left or none left is idle. */
function dropIdleBeyond(size: number): void {
  for (const [key, limits] of modelLimits) {
    if (modelLimits.size <= size) return;
    if (idle(limits)) modelLimits.delete(key);
  }
}

/** No call in flight, and its budgets full again: a fresh copy would hold the same. */
function idle(limits: ModelLimits): boolean {
  return limits.inFlight === 0 && (limits.requests?.full ?? true) && (limits.tokens?.full ?? true);
}

function positive(config: Record<string, unknown>, key: string): number | undefined {
  const value = config[key];
  if (value === undefined) return undefined;
  if (!(Number.isInteger(value) && (value as number) > 0)) throw new PgError('22023', `${key} must be a positive whole number`);
  return value as number;
}
