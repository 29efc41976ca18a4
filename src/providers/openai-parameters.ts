// OpenAI's reasoning models (the o-series, gpt-5…) refuse request parameters other chat models take: logprobs, which
// the proxy asks OpenAI and Azure for to tell a confidence, and max_tokens, which they want as max_completion_tokens
// (OpenAI-compatible servers often know only max_tokens). A model's name does not reliably tell which it is, so a
// provider learns it from the model's refusal (400, code unsupported_parameter, naming the parameter) and asks again
// without it, and keeps what it learnt for the model's later requests.

import OpenAI from 'openai';

export interface ParameterChoices {
  logprobs: boolean;
  tokenLimit: 'max_tokens' | 'max_completion_tokens';
}

/** The choices a refusal of one of them calls for instead; undefined for any other error. */
export function choicesAfterRefusal(error: unknown, choices: ParameterChoices): ParameterChoices | undefined {
  if (!(error instanceof OpenAI.BadRequestError) || error.code !== 'unsupported_parameter') return undefined;
  if (error.param === 'logprobs' && choices.logprobs) return { ...choices, logprobs: false };
  if (error.param === 'max_tokens' && choices.tokenLimit === 'max_tokens') return { ...choices, tokenLimit: 'max_completion_tokens' };
  return undefined;
}

/** A request made with the provider's choices, made again with fewer as often as the model refuses one of them. */
export async function withLearntChoices<Result>(choices: { current: ParameterChoices }, request: (choices: ParameterChoices) => Promise<Result>): Promise<Result> {
  for (;;) {
    const tried = choices.current;
    try {
      return await request(tried);
    } catch (error) {
      const next = choicesAfterRefusal(error, tried);
      if (!next) throw error;
      choices.current = next;
    }
  }
}
