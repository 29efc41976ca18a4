// A vectorizer's embedding config is the server's to keep: its builders (ai.embedding_openai, ai.embedding_ollama)
// are SQL functions the server runs, ai.create_vectorizer stores what they return in the vectorizer's catalog row,
// and the statement that wrote it is in the server's log. A base_url in it may carry no user, password or query
// (review S-E). The catalog refuses such a row however it was built (0035_vectorizer_url_without_credentials.sql);
// this refuses, before the server sees the statement, the forms of one that a statement naming a vectorizer's
// config writes out in a config's place, so that the log never gets those either:
// - the builders' base_url argument, one string constant or constants joined in SQL (a bound one, which the proxy
//   does not read, is refused whole);
// - a string constant that is JSON text with a base_url in it, at any depth, every one of duplicate keys too;
// - the value after a 'base_url' name in jsonb_build_object or json_build_object (VARIADIC too, an array literal's
//   elements read) or in jsonb_object's or json_object's arrays, the value jsonb_set
//   or jsonb_insert puts at a path that ends in base_url (by name too), and the value an UPDATE assigns to a
//   subscript that ends in base_url (bound, each refused whole too; a JSON string, '"http://…"', read as JSON).
// Nothing else: a URL elsewhere in the statement is not a config's (a text to embed may well be one), and a URL
// computed otherwise (format(), chr(63), a VALUES list's column, a function of the role's own, dynamic
// SQL, EXECUTE's values) the proxy does not read. The catalog refuses it, and the server's log keeps the failed
// statement, as it keeps any statement a client wrote a secret into.

import { PgError } from '../../proxy/pg-error.js';
import { bindsParameter } from './computed-secrets.js';
import { constantText, uncast, type Expression } from './constant-text.js';
import { walk } from './references.js';
import { withEscapesRead } from './backslash-escapes.js';
import { carriesCredentials, writtenPieces } from './url-credentials.js';

/** The builders of an embedding config that take a base_url, and its place among their arguments. */
const EMBEDDING_BASE_URL: Readonly<Record<string, number>> = { embedding_openai: 4, embedding_ollama: 2 };

/** The names that make a statement one that may write a vectorizer's embedding config. */
export const VECTORIZER_CONFIG_NAMES = [...Object.keys(EMBEDDING_BASE_URL), 'create_vectorizer', 'vectorizer_embed', 'pg_llm_vectorizers'];

/** The functions that put a value at a path in a jsonb value, and the places of the path and of the value. */
const PATH_SETTERS = new Set(['jsonb_set', 'jsonb_set_lax', 'jsonb_insert']);
const PAIR_BUILDERS = new Set(['jsonb_build_object', 'json_build_object']);
const OBJECT_FROM_ARRAYS = new Set(['jsonb_object', 'json_object']);

interface Call {
  funcname?: Array<{ String?: { sval: string } }>;
  func_variadic?: boolean;
  args?: Array<Expression & { NamedArgExpr?: { name?: string; arg?: Expression } }>;
}

/** Refuses (22023, 0A000 for a bound one) a statement that writes out a vectorizer's base_url with credentials. */
export function refuseEmbeddingUrlCredentials(statement: unknown): void {
  if (!namesVectorizerConfig(statement)) return;
  walk(statement, (type, body) => {
    if (type === 'FuncCall') refuseInCall(body as Call);
    if (type === 'ResTarget') refuseSubscripted(body);
    if (type === 'A_Const') refuseInJson(constantText({ A_Const: body as Expression['A_Const'] }));
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
  if (Object.hasOwn(EMBEDDING_BASE_URL, name)) refuseValue(`ai.${name}'s base_url`, argument(call, EMBEDDING_BASE_URL[name]!, 'base_url'));
  if (PAIR_BUILDERS.has(name)) {
    // VARIADIC ARRAY['base_url', '…'] or '{base_url,…}' gives the pairs as one array's elements.
    refusePairs(name, call.func_variadic ? elementsOf(call.args?.[0]) : call.args ?? []);
  }
  // jsonb_object('{base_url,…}'), '{{base_url,…}}', or its keys and values apart: jsonb_object('{base_url}', '{…}').
  if (OBJECT_FROM_ARRAYS.has(name)) {
    const [keys, values] = [elementsOf(call.args?.[0]), elementsOf(call.args?.[1])];
    refusePairs(name, call.args?.length === 2 ? keys.flatMap((key, i) => [key, values[i]]) : keys);
  }
  if (PATH_SETTERS.has(name) && pathEndsInBaseUrl(argument(call, 1, 'path'))) refuseValue(`${name}'s base_url`, argument(call, 2, 'replacement'));
}

/** Refuses the value after each 'base_url' name in a list of names and values. */
function refusePairs(name: string, args: Array<Expression | undefined>): void {
  args.forEach((arg, i) => {
    if (i % 2 === 0 && readings(constantText(arg)).includes('base_url')) refuseValue(`${name}'s base_url`, args[i + 1]);
  });
}

/**
 * The elements of an array written out: ARRAY['a', 'b'], or a literal '{a,"b c"}' (nested braces flattened, as
 * jsonb_object reads a two-dimensional one), each as a constant.
 */
function elementsOf(array: Expression | undefined): Array<Expression | undefined> {
  const elements = (uncast(array) as { A_ArrayExpr?: { elements?: Expression[] } } | undefined)?.A_ArrayExpr?.elements;
  if (elements) return elements.flatMap((element) => ('A_ArrayExpr' in (element ?? {}) ? elementsOf(element) : [element]));
  const text = constantText(array);
  if (text === undefined) return [];
  return arrayLiteralElements(text).map((element) => ({ A_Const: { sval: { sval: element }, location: -1 } }));
}

/** An array literal's elements, braces of any depth left out, quotes and backslash escapes read. */
function arrayLiteralElements(text: string): string[] {
  const elements: string[] = [];
  let current = '';
  let quoted = false;
  let any = false;
  for (let i = 0; i < text.length; i++) {
    const character = text[i]!;
    if (character === '\\') {
      current += text[++i] ?? '';
      any = true;
    } else if (character === '"') {
      quoted = !quoted;
      any = true;
    } else if (!quoted && (character === '{' || character === '}' || character === ',')) {
      if (any) elements.push(current.trim());
      current = '';
      any = false;
    } else if (quoted || !/\s/.test(character) || any) {
      current += character;
      any = true;
    }
  }
  return elements;
}

/** A call's argument, by name or in its place. */
function argument(call: Call, place: number, name: string): Expression | undefined {
  const args = call.args ?? [];
  const positional = args[place]?.NamedArgExpr === undefined ? args[place] : undefined;
  return args.find((arg) => arg.NamedArgExpr?.name === name)?.NamedArgExpr?.arg ?? positional;
}

/**
 * An UPDATE's assignment to a subscript that ends in base_url: SET config['embedding']['base_url'] = '"…"'.
 */
function refuseSubscripted(target: { indirection?: Array<{ A_Indices?: { uidx?: Expression } }>; val?: Expression }): void {
  const last = target.indirection?.at(-1)?.A_Indices?.uidx;
  if (last && readings(constantText(last)).includes('base_url')) refuseValue("a config's base_url", target.val);
}

/** A constant as written and with its backslash escapes read, as the server reads it with standard_conforming_strings off. */
function readings(text: string | undefined): string[] {
  if (text === undefined) return [];
  return text.includes('\\') ? [text, withEscapesRead(text)] : [text];
}

/** A config's base_url, written out or of constants joined in SQL; never bound. */
function refuseValue(what: string, value: Expression | undefined): void {
  if (value === undefined) return;
  if (bindsParameter(value)) {
    throw new PgError('0A000', `${what} cannot be bound as a parameter`, {
      hint: "The vectorizer's config keeps it, and the proxy does not read a bound value: write the URL out, with no user, password or query, and give the key with api_key_name.",
    });
  }
  const written = constantText(value) ?? writtenPieces(value);
  refuseUrl(what, written);
  // A jsonb value written as a JSON string: '"http://u:p@h/v1"'.
  if (/^\s*"/.test(written)) refuseUrl(what, jsonString(written.trim()));
}

function refuseUrl(what: string, url: string | undefined): void {
  if (url === undefined || !carriesCredentials(url)) return;
  throw new PgError('22023', `${what} cannot carry a user, a password or a query`, {
    hint: "A vectorizer's config is kept in clear, in the catalog and in the server's log: give the key with api_key_name (SET ai.<name> in the session, or the proxy's environment), and the URL without it.",
  });
}

/**
 * Whether a jsonb path, written out ('{embedding,base_url}' or ARRAY['base_url']), ends in base_url: an array
 * literal's backslashes escape the character after them ('{base\\_url}').
 */
function pathEndsInBaseUrl(path: Expression | undefined): boolean {
  const texts = readings(constantText(path)).map((text) => text.replace(/\\(.)/gs, '$1'));
  if (texts.length > 0) return texts.some((text) => /(^|[{,\s"])base_url"?\s*}\s*$/.test(text));
  const elements = (path as { A_ArrayExpr?: { elements?: Expression[] } } | undefined)?.A_ArrayExpr?.elements;
  return elements !== undefined && readings(constantText(elements.at(-1))).includes('base_url');
}

/** JSON text with a base_url in it (with backslash escapes read too, as the server may read them). */
function refuseInJson(text: string | undefined): void {
  if (text === undefined || !/^\s*[{[]/.test(text)) return;
  for (const reading of readings(text)) {
    jsonBaseUrls(reading).forEach((url) => refuseUrl("an embedding config's base_url", url));
  }
}

/** A JSON text's tokens that matter here: its strings, each followed by a colon when it is a key. */
const JSON_STRING = /"(?:[^"\\]|\\.)*"(\s*:)?/gs;

/**
 * The strings under a base_url key anywhere in JSON text, every one of duplicate keys (jsonb keeps the last, the log
 * the statement) and with the key spelt in escapes (base\u005furl). Read token by token, not parsed: text that
 * does not parse the server refuses, but its log keeps it all the same.
 */
function jsonBaseUrls(text: string): string[] {
  const urls: string[] = [];
  let key: { name: string; end: number } | undefined;
  for (const match of text.matchAll(JSON_STRING)) {
    const value = jsonString(match[0].replace(/\s*:$/, ''));
    if (match[1] !== undefined) {
      key = { name: value, end: match.index + match[0].length };
      continue;
    }
    if (key?.name === 'base_url' && /^\s*$/.test(text.slice(key.end, match.index))) urls.push(value);
    key = undefined;
  }
  return urls;
}

/** A JSON string token's text; one with escapes JSON does not read, as written between its quotes. */
function jsonString(token: string): string {
  try {
    return JSON.parse(token) as string;
  } catch {
    return token.slice(1, -1);
  }
}
