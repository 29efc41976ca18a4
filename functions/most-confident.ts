// Parallel chat's choice among its candidates, made as their answers arrive: only the best answer so far is kept
// (an answer can be as long as a provider's response cap, and there may be many candidates), and of every other
// candidate only what the trace and the JSON show of it, its scores or its error.

import { PgError } from '../proxy/pg-error.js';
import type { Answer } from './answer.js';

/** What is kept of one candidate: its scores, or why it failed. */
export type CandidateSummary =
  | { instance_name: string; model_name: string; confidence_score: number; latency_ms: number }
  | { instance_name: string; error: string };

export interface Choice {
  best: Answer;
  /** One per candidate, in the order they were named. */
  candidates: CandidateSummary[];
}

interface Ranked<Value> {
  index: number;
  value: Value;
}

/**
 * The highest confidence wins, a tie goes to the first named. A failure of the call itself (not of one provider)
 * fails it whatever the other candidates answer; when every provider fails, the first named one's error is the call's.
 */
export async function mostConfident(names: string[], ask: (name: string) => Promise<Answer>): Promise<Choice> {
  const candidates: CandidateSummary[] = new Array(names.length);
  let best: Ranked<Answer> | undefined;
  let callerError: Ranked<unknown> | undefined;
  let providerError: Ranked<unknown> | undefined;
  await Promise.all(
    names.map(async (name, index) => {
      try {
        const answer = await ask(name);
        const { model, confidence } = answer.result;
        candidates[index] = { instance_name: name, model_name: model, confidence_score: confidence, latency_ms: answer.latencyMs };
        if (best === undefined || beats(confidence, index, best)) best = { index, value: answer };
      } catch (error) {
        candidates[index] = { instance_name: name, error: (error as Error).message };
        if (isCallerError(error)) callerError = first(callerError, index, error);
        else providerError = first(providerError, index, error);
      }
    }),
  );
  if (callerError) throw callerError.value;
  if (!best) throw providerError!.value;
  return { best: best.value, candidates };
}

function beats(confidence: number, index: number, best: Ranked<Answer>): boolean {
  const bestConfidence = best.value.result.confidence;
  return confidence > bestConfidence || (confidence === bestConfidence && index < best.index);
}

function first<Value>(kept: Ranked<Value> | undefined, index: number, value: Value): Ranked<Value> {
  return kept === undefined || index < kept.index ? { index, value } : kept;
}

/** Errors of the call itself rather than of one provider: they fail the call whatever the other candidates do. */
function isCallerError(error: unknown): boolean {
  return error instanceof PgError && !['39001', '57014'].includes(error.sqlstate);
}
