// The most a provider request may cost, known before it is sent, as the caps hold it while it is in flight
// (budgets.ts): its prompt's tokens as estimated (as estimate.ts counts a statement's calls), and its answer's at most:
// the request's max_tokens, else ANSWER_TOKENS, which the estimate assumes too. An answer within max_tokens, from a
// provider that counts the prompt as estimated, costs no more; one that counts more tokens costs more, by that much.

import type { ApiRequest, ChatOptions, ChatRequest, Usage } from '../providers/provider.js';
import { estimateTokens } from '../providers/tokens.js';

/** The answer a free-text call is assumed to take when its model sets no max_tokens. */
export const ANSWER_TOKENS = 256;

/** What a chat request sends, as its tokens are estimated: the system prompt and the texts. */
export function chatInput(options: ChatOptions, texts: string[]): string {
  return [...(options.system === undefined ? [] : [options.system]), ...texts].join('\n');
}

export function chatWorstCase({ prompt, history = [], options }: ChatRequest): Usage {
  const schema = options.responseFormat.type === 'json_schema' ? [JSON.stringify(options.responseFormat.schema)] : [];
  const texts = [...history.map((message) => message.content), prompt, ...schema];
  return { promptTokens: estimateTokens(chatInput(options, texts)), completionTokens: options.maxTokens ?? ANSWER_TOKENS };
}

export function embedWorstCase(texts: string[]): Usage {
  return { promptTokens: texts.reduce((sum, text) => sum + estimateTokens(text), 0), completionTokens: 0 };
}

/** A request of a provider's own API (pgai's functions): its body's tokens, and a chat answer's max_tokens (Ollama's options.num_predict). */
export function apiWorstCase({ kind, body, estimatedTokens }: ApiRequest): Usage {
  if (kind !== 'chat') return { promptTokens: estimatedTokens, completionTokens: 0 };
  const options = body?.options as Record<string, unknown> | undefined;
  const max = [body?.max_completion_tokens, body?.max_tokens, options?.num_predict].find((value) => typeof value === 'number' && Number.isFinite(value) && value >= 0);
  return { promptTokens: estimatedTokens, completionTokens: (max as number | undefined) ?? ANSWER_TOKENS };
}
