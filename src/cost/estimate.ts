// What the calls a statement makes would ask of the models, known without asking them: per model, the calls (each
// time a row calls a function), the distinct calls the proxy makes of them (it computes a call once however many
// rows make it: one request each), the tokens they would send and get back, and what that costs at the model's
// price (src/providers/metrics.ts: the model config's, else --price-table's). Each function says what one call asks
// (FunctionDeclaration.models); one that cannot say counts under an unknown model, with no tokens or cost.

import { callArguments, type CallContext, type ModelRequest } from '../../functions/declaration.js';
import { findFunction } from '../../functions/registry.js';
import { PgError } from '../../proxy/pg-error.js';
import { meteredModelName } from '../providers/index.js';
import { costOf, priceOf } from '../providers/metrics.js';
import { dollars, plusDollars } from './dollars.js';
import type { ChatOptions } from '../providers/provider.js';
import { estimateTokens } from '../providers/tokens.js';
import { ANSWER_TOKENS, chatInput } from './worst-case.js';

/** A chat request of a model as an estimate takes it: the system prompt and the texts sent, the answer's tokens. */
export function chatRequest(model: string, config: Record<string, unknown>, options: ChatOptions, texts: string[]): ModelRequest {
  return { model, config, input: chatInput(options, texts), outputTokens: options.maxTokens ?? ANSWER_TOKENS };
}

/** A call a statement makes, and how many times its rows make it. */
export interface CollectedCall {
  function: string;
  arguments: unknown[];
  occurrences: number;
}

export interface ModelEstimate {
  /** The model instance; null for calls of functions that cannot tell which model they would ask. */
  model: string | null;
  calls: number;
  distinctCalls: number;
  inputTokens: number | null;
  outputTokens: number | null;
  /** Null when the model has no price, or is unknown. */
  costUsd: number | null;
}

/** Per model, the calls and what they would cost; reads the catalog (the models' configs) with the caller's rights. */
export async function estimateCalls(context: CallContext, calls: Iterable<CollectedCall>): Promise<ModelEstimate[]> {
  const reading = readingOnce(context);
  const rows = new Map<string | null, ModelEstimate>();
  const row = (model: string | null): ModelEstimate => {
    let found = rows.get(model);
    if (!found) rows.set(model, (found = { model, calls: 0, distinctCalls: 0, inputTokens: model === null ? null : 0, outputTokens: model === null ? null : 0, costUsd: null }));
    return found;
  };
  for (const call of calls) {
    const declaration = findFunction(call.function);
    // The secrets the calls write out, for the references the server handed back: one of another session's fails
    // the estimate as it would fail the call.
    const values = declaration ? context.literalSecrets.resolve(declaration, call.arguments).values : call.arguments;
    if (!declaration?.models) {
      const unknown = row(null);
      unknown.calls += call.occurrences;
      unknown.distinctCalls++;
      continue;
    }
    const args = callArguments(declaration, values);
    // STRICT: a NULL argument makes the result NULL without a call.
    if (declaration.strict && declaration.arguments.some((argument) => args[argument.name] === null)) continue;
    for (const request of await declaration.models(args, reading)) add(row(request.model), request, call.occurrences);
  }
  return [...rows.values()].sort((a, b) => (a.model ?? '\uffff').localeCompare(b.model ?? '\uffff'));
}

function add(row: ModelEstimate, request: ModelRequest, occurrences: number): void {
  const inputTokens = estimateTokens(request.input);
  row.calls += occurrences;
  row.distinctCalls++;
  row.inputTokens! += inputTokens;
  row.outputTokens! += request.outputTokens;
  const cost = costOf({ promptTokens: inputTokens, completionTokens: request.outputTokens }, priceOf(request.config, meteredModelName(request.config)));
  if (cost !== undefined) row.costUsd = plusDollars(row.costUsd ?? 0, cost);
}

/** The distinct calls (requests) in all, and the dollars of those whose price is known. */
export function estimateTotals(estimate: ModelEstimate[]): { calls: number; distinctCalls: number; usd: number } {
  return estimate.reduce((sum, row) => ({ calls: sum.calls + row.calls, distinctCalls: sum.distinctCalls + row.distinctCalls, usd: plusDollars(sum.usd, row.costUsd ?? 0) }), { calls: 0, distinctCalls: 0, usd: 0 });
}

/** The NOTICE an EXPLAIN through the proxy adds: the model calls the statement would make. */
export function estimateNotice(estimate: ModelEstimate[]): PgError {
  const totals = estimateTotals(estimate);
  const priced = estimate.length > 0 && estimate.every((row) => row.costUsd !== null);
  const cost = priced ? `, costing about ${dollars(totals.usd)}` : '';
  return new PgError('00000', `pg_llm: the statement would make ${totals.distinctCalls} model calls (its rows call ${totals.calls} times)${cost}`, {
    detail: describeEstimate(estimate),
    hint: 'pg_llm_estimate(sql) gives these per model, as rows; no model was called.',
  });
}

/** One line: each model's calls, distinct calls, tokens and cost. */
export function describeEstimate(estimate: ModelEstimate[]): string {
  if (estimate.length === 0) return 'no model calls';
  return estimate
    .map((row) => {
      const name = row.model === null ? 'functions whose model is not known in advance' : row.model;
      const tokens = row.inputTokens === null ? '' : `, about ${row.inputTokens} input and ${row.outputTokens} output tokens`;
      const cost = row.costUsd === null ? (row.model === null ? '' : ', no price known') : `, about ${dollars(row.costUsd)}`;
      return `${name}: ${row.calls} calls, ${row.distinctCalls} distinct${tokens}${cost}`;
    })
    .join('; ');
}


/**
 * The context with each distinct read made once: the calls of one statement mostly ask the same models, whose
 * catalog rows are read once then. The estimate only reads.
 */
function readingOnce(context: CallContext): CallContext {
  const reads = new Map<string, Promise<unknown>>();
  const once = <T>(kind: string, sql: string, parameters: Array<string | null> | undefined, read: () => Promise<T>): Promise<T> => {
    const key = JSON.stringify([kind, sql, parameters ?? []]);
    let pending = reads.get(key) as Promise<T> | undefined;
    if (!pending) reads.set(key, (pending = read()));
    return pending;
  };
  return {
    ...context,
    query: (sql, parameters) => once('rows', sql, parameters, () => context.query(sql, parameters)),
    queryTable: (sql, parameters) => once('table', sql, parameters, () => context.queryTable(sql, parameters)),
  };
}
