// Token counts before a provider has said them: about four characters a token, the providers' own rule of thumb.
// Used for what must be decided before a request (a tokens-per-minute budget) and by the mock provider.

export function estimateTokens(text: string): number {
  return Math.ceil(text.length / 4);
}
