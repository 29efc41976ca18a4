// A vectorizer's embedding config is the server's to keep: its builders (ai.embedding_openai, ai.embedding_ollama)
// are SQL functions the server runs, ai.create_vectorizer stores what they return in the vectorizer's catalog row,
// and the statement that wrote it is in the server's log. A base_url in it may carry no user, password or query
// (review S-E). The catalog refuses such a row however it was built (0035_vectorizer_url_without_credentials.sql);
// this refuses, before the server sees the statement, the forms of one that a statement writes out, so that the log
// never gets it either:
// - the builders' base_url argument, written out or built of string constants (a bound one, which the proxy does not
//   read, is refused whole);
// - a JSON text written out with a base_url in it, at any depth (embedding => '{"base_url": …}');
// - the value after a 'base_url' name in jsonb_build_object or json_build_object, and the value jsonb_set or
//   jsonb_insert puts at a path that ends in base_url;
// - any URL with a scheme the statement writes out, or joins of constants with ||.
// Only in a statement that names a vectorizer's config: another statement may pass such a URL in a call the proxy
// runs (client_config), which it holds. EXECUTE's values, which may be a prepared create_vectorizer's config, are
// read for JSON text with a base_url (a URL alone there may be any data). A URL computed otherwise (chr(63), a function of the role's own, dynamic SQL)
// the proxy cannot read: the catalog refuses it, and the server's log keeps the failed statement, as it keeps any
// statement the client wrote a secret into.

import { PgError } from '../../proxy/pg-error.js';
import { bindsParameter } from './computed-secrets.js';
import { constantText, type Expression } from './constant-text.js';
import { walk } from './references.js';
import { refuseUrlCredentials, writtenPieces } from './url-credentials.js';

/** The builders of an embedding config that take a base_url, and its place among their arguments. */
const EMBEDDING_BASE_URL: Readonly<Record<string, number>> = { embedding_openai: 4, embedding_ollama: 2 };

/** The names that make a statement one that may write a vectorizer's embedding config. */
export const VECTORIZER_CONFIG_NAMES = [...Object.keys(EMBEDDING_BASE_URL), 'create_vectorizer', 'vectorizer_embed', 'pg_llm_vectorizers'];

/** A text that starts as a URL with a scheme: http://, https:\\ and the like. */
const URL_WITH_SCHEME = /^\s*[a-z][a-z0-9+.-]*:[/\\]/i;
/** The functions that put a value at a path in a jsonb value, and the places of the path and of the value. */
const PATH_SETTERS = new Set(['jsonb_set', 'jsonb_set_lax', 'jsonb_insert']);
const PAIR_BUILDERS = new Set(['jsonb_build_object', 'json_build_object']);

interface Call {
  funcname?: Array<{ String?: { sval: string } }>;
  args?: Array<Expression & { NamedArgExpr?: { name?: string; arg?: Expression } }>;
}

/** Refuses (22023, 0A000 for a bound base_url) a statement that writes out a vectorizer's base_url with credentials. */
export function refuseEmbeddingUrlCredentials(statement: unknown): void {
  const execute = (statement as { ExecuteStmt?: { params?: unknown } }).ExecuteStmt;
  if (execute) {
    return walk(execute.params, (type, body) => {
      if (type === 'A_Const') refuseInJson(constantText({ A_Const: body as Expression['A_Const'] }));
    });
  }
  if (!namesVectorizerConfig(statement)) return;
  walk(statement, (type, body) => {
    if (type === 'FuncCall') refuseInCall(body as Call);
    if (type === 'A_Const') refuseInConstant(constantText({ A_Const: body as Expression['A_Const'] }));
    if (type === 'A_Expr') refuseJoined(body as Expression['A_Expr']);
  });
}

/** Whether the statement calls a config's builder or function, or names the vectorizers' table (a bare RangeVar too). */
function namesVectorizerConfig(node: unknown): boolean {
  if (Array.isArray(node)) return node.some(namesVectorizerConfig);
  if (node === null || typeof node !== 'object') return false;
  const { FuncCall: call, relname } = node as { FuncCall?: Call; relname?: unknown };
  const name = call?.funcname?.at(-1)?.String?.sval ?? relname;
  return (typeof name === 'string' && VECTORIZER_CONFIG_NAMES.includes(name)) || Object.values(node).some(namesVectorizerConfig);
}

function refuseInCall(call: Call): void {
  const name = call.funcname?.at(-1)?.String?.sval ?? '';
  const args = call.args ?? [];
  if (Object.hasOwn(EMBEDDING_BASE_URL, name)) refuseBuilderUrl(name, args, EMBEDDING_BASE_URL[name]!);
  if (PAIR_BUILDERS.has(name)) {
    args.forEach((arg, i) => {
      if (i % 2 === 0 && constantText(arg) === 'base_url' && args[i + 1]) refuseUrlCredentials(`${name}'s base_url`, writtenPieces(args[i + 1]));
    });
  }
  if (PATH_SETTERS.has(name) && pathEndsInBaseUrl(args[1]) && args[2]) refuseUrlCredentials(`${name}'s base_url`, writtenPieces(args[2]));
}

/** A builder's base_url, by name or in its place: written out or of constants, never bound. */
function refuseBuilderUrl(name: string, args: NonNullable<Call['args']>, place: number): void {
  const positional = args[place]?.NamedArgExpr === undefined ? args[place] : undefined;
  const value = args.find((arg) => arg.NamedArgExpr?.name === 'base_url')?.NamedArgExpr?.arg ?? positional;
  if (value === undefined) return;
  const what = `ai.${name}'s base_url`;
  if (bindsParameter(value)) {
    throw new PgError('0A000', `${what} cannot be bound as a parameter`, {
      hint: "The vectorizer's config keeps it, and the proxy does not read a bound value: write the URL out, with no user, password or query, and give the key with api_key_name.",
    });
  }
  refuseUrlCredentials(what, constantText(value) ?? writtenPieces(value));
}

/** Whether a jsonb path, written out ('{embedding,base_url}' or ARRAY['base_url']), ends in base_url. */
function pathEndsInBaseUrl(path: Expression | undefined): boolean {
  const text = constantText(path);
  if (text !== undefined) return /(^|[{,\s"])base_url"?\s*}\s*$/.test(text);
  const elements = (path as { A_ArrayExpr?: { elements?: Expression[] } } | undefined)?.A_ArrayExpr?.elements;
  return elements !== undefined && constantText(elements.at(-1)) === 'base_url';
}

/** A constant that is a URL with a scheme, or JSON text with a base_url in it. */
function refuseInConstant(text: string | undefined): void {
  if (text === undefined) return;
  if (URL_WITH_SCHEME.test(text)) refuseUrlCredentials('a URL in a vectorizer config', text);
  refuseInJson(text);
}

/** JSON text with a base_url in it at any depth (its name spelt with escapes too, as JSON reads them). */
function refuseInJson(text: string | undefined): void {
  if (text !== undefined && /^\s*[{[]/.test(text)) jsonBaseUrls(text).forEach((url) => refuseUrlCredentials("an embedding config's base_url", url));
}

/** Constants joined with || into a URL with a scheme. */
function refuseJoined(operation: Expression['A_Expr']): void {
  const joined = constantText({ A_Expr: operation });
  if (joined !== undefined && URL_WITH_SCHEME.test(joined)) refuseUrlCredentials('a URL in a vectorizer config', joined);
}

/** The string values under a base_url key anywhere in JSON text; none where it does not parse (the server refuses it). */
function jsonBaseUrls(text: string): string[] {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return [];
  }
  const urls: string[] = [];
  const visit = (node: unknown): void => {
    if (node === null || typeof node !== 'object') return;
    for (const [key, item] of Object.entries(node)) {
      if (key === 'base_url' && typeof item === 'string') urls.push(item);
      visit(item);
    }
  };
  visit(value);
  return urls;
}
