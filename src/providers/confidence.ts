// Confidence scores. Where the provider returns token log-probabilities, the score is their geometric mean as a
// probability, exp(mean log p): the model's average certainty per token of the answer it gave. Where it returns
// none (Anthropic; servers without logprobs), the score is the model config's `confidence_fallback`, default 0.8,
// and is reported as such (confidence_source "fallback"), never as a measurement.

import { probability } from './options.js';
import type { ChatResult } from './provider.js';

export const DEFAULT_CONFIDENCE_FALLBACK = 0.8;

export type Confidence = Pick<ChatResult, 'confidence' | 'confidenceSource'>;

/** The score of an answer whose tokens had these log-probabilities; the fallback when there are none. */
export function confidenceOf(logprobs: number[], fallback: Confidence): Confidence {
  const finite = logprobs.filter((value) => Number.isFinite(value));
  if (finite.length === 0) return fallback;
  const mean = finite.reduce((sum, value) => sum + value, 0) / finite.length;
  return { confidence: Math.min(1, Math.exp(mean)), confidenceSource: 'logprobs' };
}

/** The model config's fallback score, checked when the model is registered. */
export function fallbackConfidence(config: Record<string, unknown>): Confidence {
  return { confidence: probability(config, 'confidence_fallback', DEFAULT_CONFIDENCE_FALLBACK), confidenceSource: 'fallback' };
}
