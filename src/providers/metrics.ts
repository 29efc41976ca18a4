// Usage of the model providers, for /metrics: requests by outcome, tokens, time per request, where a price is
// known cost, and the calls their callers cancelled, each by provider and model. Prices (US dollars per million tokens) come from the model config
// (price_per_million_input_tokens, price_per_million_output_tokens) or from the proxy's --price-table file keyed by
// model name; with neither, no cost is counted (rather than a guess from a stale list).
// Any role may name a model anything, so the model label takes at most --metrics-max-models distinct names (and
// those of the price table, which the operator wrote); later names are counted under model="other". The spend of
// each role in each database, by model, is counted too (the asker's: for the worker's, its tables' owner),
// and held to the caps of the role's day and of the statement the request is made for (src/cost/): each request
// holds its worst case against them while in flight, and one held against a cap in dollars asks the provider for no
// more answer tokens than it holds (a stream that runs past them is cut). Its role and database labels are bounded the
// same way.

import { Counter, Histogram } from 'prom-client';
import { PgError } from '../../proxy/pg-error.js';
import { BoundedLabel, labelValue, processRegistry, readGauge } from '../metrics.js';
import { capReached, dayRefused } from '../cost/budgets.js';
import { addSpent, callsWaitingForBudget, holdsReleased, holdToday, type Spender } from '../cost/daily-spend.js';
import { currentSpending } from '../cost/statement-spending.js';
import { apiWorstCase, chatWorstCase, embedWorstCase } from '../cost/worst-case.js';
import { askerParts, type Asker } from './asker.js';
import { beginCall } from './call-board.js';
import type { ApiAnswer, ApiKind, ApiRequest, ChatRequest, ChatResult, Provider, StreamEvent, Usage } from './provider.js';
import { AnswerCount } from './answer-count.js';

export interface Price {
  input: number;
  output: number;
}

type Kind = 'stream' | ApiKind;
type ModelLabels = { provider: string; model: string };

const SECONDS_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
const DEFAULT_MAX_MODEL_LABELS = 50;
const MODEL_LABELS = ['provider', 'model'];
let priceTable = new Map<string, Price>();
const modelLabels = new BoundedLabel(DEFAULT_MAX_MODEL_LABELS, (name) => priceTable.has(name));
const roleLabels = new BoundedLabel(DEFAULT_MAX_MODEL_LABELS);
const databaseLabels = new BoundedLabel(DEFAULT_MAX_MODEL_LABELS);
/** The role and database label of the worker's requests, made for no session. */
const WORKER = '(worker)';
const SPEND_LABELS = ['role', 'database', 'model'];

const registers = [processRegistry];
const requests = new Counter({
  name: 'pg_llm_model_requests_total',
  help: 'Requests sent to model providers, by kind (chat, stream, embed, moderate, rerank, list) and outcome (ok, error, cancelled).',
  labelNames: [...MODEL_LABELS, 'kind', 'outcome'],
  registers,
});
const promptTokens = new Counter({ name: 'pg_llm_model_prompt_tokens_total', help: 'Prompt (input) tokens the providers counted.', labelNames: MODEL_LABELS, registers });
const completionTokens = new Counter({ name: 'pg_llm_model_completion_tokens_total', help: 'Completion (output) tokens the providers counted.', labelNames: MODEL_LABELS, registers });
const costUsd = new Counter({ name: 'pg_llm_model_cost_usd_total', help: 'Cost in US dollars, for models with a known price.', labelNames: MODEL_LABELS, registers });
const spendRequests = new Counter({
  name: 'pg_llm_spend_requests_total',
  help: 'Requests sent to model providers for each role in each database, by model.',
  labelNames: SPEND_LABELS,
  registers,
});
const spendUsd = new Counter({
  name: 'pg_llm_spend_usd_total',
  help: 'Cost in US dollars of the requests made for each role in each database, by model (models with a known price).',
  labelNames: SPEND_LABELS,
  registers,
});
const requestSeconds = new Histogram({
  name: 'pg_llm_model_request_seconds',
  help: 'Time from sending a request to its last byte.',
  labelNames: MODEL_LABELS,
  buckets: SECONDS_BUCKETS,
  registers,
});
const cancelledCalls = new Counter({
  name: 'pg_llm_model_calls_cancelled_total',
  help: 'Model calls their caller cancelled (a cancel request, a statement timeout, a client gone), waiting for their turn or running.',
  labelNames: MODEL_LABELS,
  registers,
});

readGauge(
  processRegistry,
  'pg_llm_model_calls_waiting_for_budget',
  "The worker's model calls waiting for calls in flight to give back what they hold of their payer's daily budget.",
  callsWaitingForBudget,
);

/** How many model names (and role and database names of the spend series) get series of their own (--metrics-max-models). */
export function setMaxModelLabels(size: number): void {
  for (const label of [modelLabels, roleLabels, databaseLabels]) label.setMax(size);
}

/** Prices by model name, from --price-table. */
export function setPriceTable(prices: Map<string, Price>): void {
  priceTable = prices;
}

/**
 * The price of a model: its config's own, else the table's entry for its name. A price is a finite number of dollars,
 * 0 or more: any role may register a model and set its price, and one that is not (jsonb keeps 1e400, which
 * JavaScript reads as Infinity; a negative one) would make the role's spend NaN or take it down, and its daily budget
 * with it. Registration refuses such a config (pg_llm_add_model builds the provider), and so does every call of a
 * model stored with one before.
 */
export function priceOf(config: Record<string, unknown>, modelName: string): Price | undefined {
  const input = config.price_per_million_input_tokens ?? undefined;
  const output = config.price_per_million_output_tokens ?? undefined;
  if (input === undefined && output === undefined) return priceTable.get(modelName);
  return { input: dollarsPerMillion('price_per_million_input_tokens', input), output: dollarsPerMillion('price_per_million_output_tokens', output) };
}

function dollarsPerMillion(key: string, value: unknown): number {
  if (value === undefined) return 0;
  if (typeof value === 'number' && Number.isFinite(value) && value >= 0) return value;
  throw new PgError('22023', `invalid model config: ${key} must be a finite number of US dollars, 0 or more`, {
    hint: 'Register the model again with pg_llm_add_model and a price such as 2.5 (US dollars per million tokens), or without one.',
  });
}

/** The dollars a request's usage costs at the price; at most Number.MAX_VALUE, however large its counts. */
export function costOf(usage: Usage, price: Price | undefined): number | undefined {
  return price && Math.min((usage.promptTokens * price.input + usage.completionTokens * price.output) / 1_000_000, Number.MAX_VALUE);
}

/**
 * The provider with every request it makes counted under its provider and model names, and shown on the admin
 * dashboard under its model instance's (call-board.ts).
 */
export function metered(provider: Provider, providerName: string, modelName: string, config: Record<string, unknown>, instance: string): Provider {
  const labels = modelLabelsOf(providerName, modelName);
  const price = priceOf(config, modelName);
  /**
   * A request starts, unless a cap of its statement or its payer's day leaves no room for its worst case
   * (`worstCase`, asked only when a cap in dollars needs it): a statement's is refused then, the worker's waits for
   * the requests in flight to give back what they hold, and is refused once the day's spend leaves no room. The
   * function returned records how it ended, settles what it held, and gives its cost where the price is known.
   */
  const begin = async (kind: Kind, { signal, asker }: { signal: AbortSignal; asker?: Asker }, worstCase: () => Usage) => {
    const spending = currentSpending();
    await spending?.ready();
    const spender = askerParts(asker);
    let worst: Usage | undefined;
    const worstUsd = (): number => costOf((worst ??= worstCase()), price) ?? 0;
    const statementHold = spending?.hold(worstUsd);
    let dayHold = spender && holdToday(spender, modelName, worstUsd);
    while (dayHold && typeof dayHold !== 'function') {
      if (spending || dayHold.forToday) {
        statementHold?.(undefined);
        throw spending ? spending.stop(dayHold.refused) : dayRefused(dayHold.refused);
      }
      await holdsReleased(signal);
      dayHold = holdToday(spender!, modelName, worstUsd);
    }
    const spend = { role: spender ? roleLabels.of(spender.role) : WORKER, database: spender ? databaseLabels.of(spender.database) : WORKER, model: labels.model };
    spendRequests.inc(spend);
    const started = performance.now();
    const shown = beginCall({ instance, provider: providerName, model: modelName, kind, asker });
    // A cap in dollars held the answer's worst case: the provider is asked for no more, and a stream cut past it.
    const held = worst && price ? worst : undefined;
    const end = (usage: Usage | undefined, error?: unknown): number | undefined => {
      let cost: number | undefined;
      // The call leaves the dashboard's running calls, and gives back what it held, however its counting ends.
      try {
        requests.inc({ ...labels, kind, outcome: usage ? 'ok' : signal.aborted ? 'cancelled' : 'error' });
        requestSeconds.observe(labels, (performance.now() - started) / 1000);
        cost = usage && costOf(usage, price);
        if (usage) {
          promptTokens.inc(labels, usage.promptTokens);
          completionTokens.inc(labels, usage.completionTokens);
          costUsd.inc(labels, cost ?? 0);
        }
        if (cost !== undefined) spendUsd.inc(spend, cost);
      } finally {
        // The day first: a statement over its role's budget stops when its own hold settles.
        dayHold?.(cost);
        statementHold?.(cost);
        shown({ usage, costUsd: cost, error, cancelled: signal.aborted });
      }
      return cost;
    };
    /** The cap's error for an answer that ran past what was held for it (the provider ignored its limit). */
    const heldPassed = (tokens: number): PgError => {
      const what = `the answer passed the ${tokens} tokens its caps hold, which the provider was asked to keep to`;
      return spending ? spending.stop(what) : capReached(what);
    };
    return { end, held, heldPassed };
  };
  const withCost = (result: ChatResult, cost: number | undefined): ChatResult => (cost === undefined ? result : { ...result, costUsd: cost });
  /** Runs a request that ends with one answer, recorded with its usage or its failure. */
  const once = async <T>(
    kind: Kind,
    request: { signal: AbortSignal; asker?: Asker },
    worstCase: () => Usage,
    run: (held: Usage | undefined) => Promise<T>,
    usageOf: (answer: T) => Usage,
  ): Promise<{ answer: T; cost: number | undefined }> => {
    const { end, held } = await begin(kind, request, worstCase);
    let answer: T;
    try {
      answer = await run(held);
    } catch (error) {
      end(undefined, error);
      throw error;
    }
    return { answer, cost: end(usageOf(answer)) };
  };
  const send = provider.send?.bind(provider);
  return {
    embeddingBatchSize: provider.embeddingBatchSize,
    ...(send && {
      async send(request: ApiRequest): Promise<ApiAnswer> {
        const sent = (held: Usage | undefined): ApiRequest => (held && request.kind === 'chat' ? { ...request, maxAnswerTokens: held.completionTokens } : request);
        return (await once(request.kind, request, () => apiWorstCase(request), (held) => send(sent(held)), (answer) => answer.usage)).answer;
      },
    }),
    async chat(request) {
      let limit: number | undefined;
      const run = (held: Usage | undefined) => {
        if (held && request.options.maxTokens === undefined) limit = held.completionTokens;
        return provider.chat(heldTo(request, held));
      };
      const { answer, cost } = await once('chat', request, () => chatWorstCase(request), run, (result) => result.usage);
      return withCost(limit !== undefined && answer.usage.completionTokens >= limit ? { ...answer, heldShort: true } : answer, cost);
    },
    async *stream(request): AsyncIterable<StreamEvent> {
      const { end, held, heldPassed } = await begin('stream', request, () => chatWorstCase(request));
      const output = new AnswerCount();
      let ended = false;
      try {
        for await (const event of provider.stream(heldTo(request, held))) {
          if (event.kind === 'chunk') {
            output.add(event.text);
            if (held && output.tokens > held.completionTokens) {
              // Charged what it has written as counted, since the provider's own count never comes.
              ended = true;
              end({ promptTokens: held.promptTokens, completionTokens: output.tokens });
              throw heldPassed(held.completionTokens);
            }
            yield event;
          } else {
            ended = true;
            yield { kind: 'done', result: withCost(event.result, end(event.result.usage)) };
          }
        }
      } catch (error) {
        if (!ended) end(undefined, error);
        ended = true;
        throw error;
      } finally {
        // A reader that stops reading ends the stream without an answer or an error.
        if (!ended) end(undefined);
      }
    },
    async embed(request) {
      return (await once('embed', request, () => embedWorstCase(request.texts), () => provider.embed(request), (result) => result.usage)).answer;
    },
  };
}

/** The request, asking for no more answer tokens than a cap holds for it (none held: as it was). */
function heldTo(request: ChatRequest, held: Usage | undefined): ChatRequest {
  return held ? { ...request, options: { ...request.options, maxTokens: held.completionTokens } } : request;
}

/** A model call its caller cancelled. */
export function countCancelledCall(providerName: string, modelName: string): void {
  cancelledCalls.inc(modelLabelsOf(providerName, modelName));
}

/** The batch APIs' price of a request, against the single request's. */
const BATCH_PRICE = 0.5;

/**
 * The requests of a provider's batch that were answered, counted once the batch has ended as requests are when they
 * are answered, at the batch APIs' half price, in the day of their payer (an llm.call job's table owner, a
 * vectorizer's owner). Both the llm.call worker's batches and the vectorizers' are counted here.
 */
export function meterBatch(kind: 'chat' | 'embed', providerName: string, modelName: string, config: Record<string, unknown>, payer: Spender, usages: Usage[]): void {
  const labels = modelLabelsOf(providerName, modelName);
  const price = priceOf(config, modelName);
  const spend = { role: roleLabels.of(payer.role), database: databaseLabels.of(payer.database), model: labels.model };
  let usd = 0;
  for (const usage of usages) {
    spendRequests.inc(spend);
    requests.inc({ ...labels, kind, outcome: 'ok' });
    promptTokens.inc(labels, usage.promptTokens);
    completionTokens.inc(labels, usage.completionTokens);
    const full = costOf(usage, price);
    const cost = full === undefined ? 0 : full * BATCH_PRICE;
    costUsd.inc(labels, cost);
    if (full !== undefined) spendUsd.inc(spend, cost);
    usd += cost;
  }
  if (usages.length > 0) addSpent(payer, modelName, { calls: usages.length, usd });
}

function modelLabelsOf(providerName: string, modelName: string): ModelLabels {
  return { provider: labelValue(providerName), model: modelLabels.of(modelName) };
}
