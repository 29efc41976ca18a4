// Pieces of pgai's signatures that many of its functions share, written as PostgreSQL prints them back
// (pg_get_function_arguments), so the stubs read exactly like pgai's.

import type { ArgumentDeclaration } from '../declaration.js';

/** An argument that defaults to NULL. */
export function nullable(name: string, type: string): ArgumentDeclaration {
  return { name, type, default: `NULL::${type}` };
}

export const VERBOSE: ArgumentDeclaration = { name: 'verbose', type: 'boolean', default: 'false' };

export const API_KEY: ArgumentDeclaration[] = [{ ...nullable('api_key', 'text'), secret: 'key' }, nullable('api_key_name', 'text')];

/** The tail of OpenAI's requests: extra headers, query and body, verbose, and the client's config. */
export function openAiTail(withBody: boolean): ArgumentDeclaration[] {
  return [
    nullable('extra_headers', 'jsonb'),
    nullable('extra_query', 'jsonb'),
    ...(withBody ? [nullable('extra_body', 'jsonb')] : []),
    VERBOSE,
    nullable('client_config', 'jsonb'),
  ];
}
