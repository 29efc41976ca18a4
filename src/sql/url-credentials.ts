// A server's URL written in a statement that the server would keep (a setting's value, a vectorizer's config) may
// carry no user, password or query: the server would keep them in clear, in its log (the statement, its errors) and
// wherever it stores the value. Below both the key-setting checks (api-key-statements.ts) and the vectorizer config
// checks (embedding-urls.ts), and the Bind and fastpath checks of the interceptor.

import { PgError } from '../../proxy/pg-error.js';
import { urlCarriesCredentials } from '../crypto/config-secrets.js';
import { withEscapesRead } from './backslash-escapes.js';

/**
 * Refuses a server's URL that carries a user, a password or a query, as `what` (a setting's name, an argument). Neither
 * OpenAI's nor Anthropic's client can use such a URL anyway: a request's URL may not carry a user, and their paths go
 * after the base URL, past its query.
 */
export function refuseUrlCredentials(what: string, value: string | undefined): void {
  if (value !== undefined && carriesCredentials(value)) throw urlCredentialsError(what);
}

/** Whether a URL written in a statement carries a user, a password or a query, read as written or with its escapes read. */
export function carriesCredentials(value: string): boolean {
  // With standard_conforming_strings off the server reads 'http://u\:k@h' as http://u:k@h (review P, rp1-4).
  return urlCarriesCredentials(value) || (value.includes('\\') && urlCarriesCredentials(withEscapesRead(value)));
}

/** The error a server setting's URL with credentials is refused with; FATAL at connection start (startup-refusal.ts). */
export function urlCredentialsError(setting: string, severity?: 'FATAL'): PgError {
  return new PgError('22023', `the URL of ${setting.toLowerCase()} cannot carry a user, a password or a query`, {
    ...(severity && { severity }),
    hint: "The server would keep the setting's value in clear, for its log and for any code the session runs. Give the key in a key setting (ai.openai_api_key, which the proxy holds) or in the call (api_key, client_config).",
  });
}

/**
 * The string constants a value computed in SQL is written with, one after the other (concat('http://u:', 'k@h'),
 * format(…), a subquery's or a VALUES list's column): the URL they make may carry credentials as one constant would.
 */
export function writtenPieces(value: unknown): string {
  const pieces: string[] = [];
  const visitPieces = (node: unknown): void => {
    if (Array.isArray(node)) return node.forEach(visitPieces);
    if (node === null || typeof node !== 'object') return;
    const text = (node as { A_Const?: { sval?: { sval: string } } }).A_Const?.sval?.sval;
    if (text !== undefined) pieces.push(text);
    Object.values(node).forEach(visitPieces);
  };
  visitPieces(value);
  return pieces.join('');
}
