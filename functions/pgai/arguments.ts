// Pieces of pgai's signatures that many of its functions share, written as PostgreSQL prints them back
// (pg_get_function_arguments), so the stubs read exactly like pgai's.

import type { ArgumentDeclaration } from '../declaration.js';

/** An argument that defaults to NULL. */
export function nullable(name: string, type: string): ArgumentDeclaration {
  return { name, type, default: `NULL::${type}` };
}

export const VERBOSE: ArgumentDeclaration = { name: 'verbose', type: 'boolean', default: 'false' };

export const API_KEY: ArgumentDeclaration[] = [{ ...nullable('api_key', 'text'), secret: 'key' }, { ...nullable('api_key_name', 'text'), keyName: true }];

/** Headers or query parameters of a request: any of them may carry a key, so all are held back from the server. */
export function requestParts(name: string): ArgumentDeclaration {
  return { ...nullable(name, 'jsonb'), secret: 'key' };
}

/** A JSON config held back from the server when it holds credentials (a key, a header, a URL with a password). */
export function secretConfig(name: string): ArgumentDeclaration {
  return { ...nullable(name, 'jsonb'), secret: 'config' };
}

/** A server's URL (base_url, host), held back from the server when it carries credentials (http://user:password@host). */
export function serverUrl(name: string): ArgumentDeclaration {
  return { ...nullable(name, 'text'), secret: 'url' };
}

/** The tail of OpenAI's requests: extra headers, query and body, verbose, and the client's config. */
export function openAiTail(withBody: boolean): ArgumentDeclaration[] {
  return [requestParts('extra_headers'), requestParts('extra_query'), ...(withBody ? [secretConfig('extra_body')] : []), VERBOSE, secretConfig('client_config')];
}
