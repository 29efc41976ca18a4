// What pg_llm.redact_sensitive masks in the text audit and trace rows keep (prompts, answers, SQL, errors): API
// keys and bearer tokens, credentials written as key=value or as a JSON field (a header: "x-api-key": …), and
// e-mail addresses. Patterns, not a guarantee: a secret in a shape no pattern knows passes through, so secrets belong
// in the model config, never in prompts.

/** The shapes of keys and credentials. */
const KEYS: Array<[RegExp, string]> = [
  [/\b(sk|pk|rk|ak)-[A-Za-z0-9_-]{8,}/g, '$1-****'],
  [/\bBearer\s+[A-Za-z0-9._~+/-]+=*/gi, 'Bearer ****'],
  [/\b(api[_-]?key|(?:subscription|access|private)[_-]?key|password|passwd|pwd|secret|token|authorization|cookie)("?\s*[:=]\s*)("[^"]*"|'[^']*'|[^\s,;&]+)/gi, '$1$2****'],
];
const PATTERNS: Array<[RegExp, string]> = [...KEYS, [/\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b/g, '****@****']];

/** Whether the text holds something of a key's or a credential's shape (an e-mail address is not one). */
export function looksLikeSecret(text: string): boolean {
  return KEYS.some(([pattern]) => text.replace(pattern, '') !== text);
}

export function maskSecrets(text: string): string {
  return PATTERNS.reduce((masked, [pattern, replacement]) => masked.replace(pattern, replacement), text);
}

/** Every string inside a JSON value, masked. */
export function maskSecretsIn(value: unknown): unknown {
  if (typeof value === 'string') return maskSecrets(value);
  if (Array.isArray(value)) return value.map(maskSecretsIn);
  if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, maskSecretsIn(item)]));
  return value;
}
