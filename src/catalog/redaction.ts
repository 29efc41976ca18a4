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
/**
 * An e-mail address is \b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b, found from each @ rather than by that
 * pattern: V8 tries it from every word boundary of a run of address characters to the run's end, so "a.a.a.…" with
 * no @ took the square of its length (80 kB froze every session for 8 s), and the text is whatever a role's model
 * answered. Found so, an address is the one the pattern finds, each character looked at a bounded number of times.
 */
const ADDRESS_CHARACTER = /[A-Za-z0-9._%+-]/;
const WORD_CHARACTER = /\w/;
const DOMAIN = /[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b/y;
const ADDRESS = '****@****';

/** Whether the text holds something of a key's or a credential's shape (an e-mail address is not one). */
export function looksLikeSecret(text: string): boolean {
  return KEYS.some(([pattern]) => text.replace(pattern, '') !== text);
}

export function maskSecrets(text: string): string {
  return withoutAddresses(KEYS.reduce((masked, [pattern, replacement]) => masked.replace(pattern, replacement), text));
}

/** The text with each e-mail address replaced, as the pattern above would replace them one after another. */
function withoutAddresses(text: string): string {
  let shown = '';
  let from = 0;
  for (let at = text.indexOf('@'); at >= 0; at = text.indexOf('@', at + 1)) {
    // The address characters before the @, back to the last address replaced; the address starts at the first word
    // boundary among them (none: no address).
    let start = at;
    while (start > from && ADDRESS_CHARACTER.test(text[start - 1]!)) start--;
    while (start < at && isWord(text[start - 1]) === isWord(text[start])) start++;
    if (start === at) continue;
    DOMAIN.lastIndex = at + 1;
    if (!DOMAIN.test(text)) continue;
    shown += text.slice(from, start) + ADDRESS;
    from = DOMAIN.lastIndex;
    at = from - 1;
  }
  return from === 0 ? text : shown + text.slice(from);
}

function isWord(character: string | undefined): boolean {
  return character !== undefined && WORD_CHARACTER.test(character);
}

/** Every string inside a JSON value, masked. */
export function maskSecretsIn(value: unknown): unknown {
  if (typeof value === 'string') return maskSecrets(value);
  if (Array.isArray(value)) return value.map(maskSecretsIn);
  if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, maskSecretsIn(item)]));
  return value;
}
