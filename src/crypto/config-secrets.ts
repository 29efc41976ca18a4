// Which values of a JSON config are credentials: those under a credential's name (api_key, x-api-key, token,
// password…), every value of a request's headers or query parameters (default_headers, extra_query…: any of them may
// carry a key, as gateways take keys there), the user, password and query values of a server URL (http://key@host,
// http://user:password@host/v1?key=…, the whole query too: ?sk-…; the whole of one with a user or query that does not
// parse), at any depth. They
// are sealed and never shown; the config others may read holds a redacted form. Model configs (pg_llm_add_model)
// and the configs of pgai's calls (client_config) alike.

import { REDACTED } from './secrets.js';

/** Config keys whose values are credentials. */
const SECRET_CONFIG_KEY = /(api[-_]?key|token|secret|password|authorization|credential)/i;
/** Config keys naming a request's headers or query parameters, each value of which may be a credential. */
const REQUEST_PARTS_KEY = /(^|_)(headers|query)$/i;
/** Config keys naming a request's query parameters, whose names may be credentials too. */
export const QUERY_PARTS_KEY = /(^|_)query$/i;
/** Config keys naming a server, whose URL may carry credentials. */
const URL_CONFIG_KEY = /^(base_url|endpoint|api_endpoint)$/i;
/**
 * A URL that does not parse but has a user (an @ past its scheme's //, a / in the password included) or a query:
 * `http://usr:pass@[::1/v1`. Where its credentials end cannot be told, so all of it counts as one.
 */
const UNPARSED_CREDENTIALS = /^[a-z][a-z0-9+.-]*:\/\/.*[@?]/is;
/** A URL's scheme and the // after it. */
const SCHEME = /^[a-z][a-z0-9+.-]*:\/\//i;

/** Whether every string under `name`, at any depth, is a credential: a credential's name, or a request's headers or query. */
export function isCredentialName(name: string): boolean {
  return SECRET_CONFIG_KEY.test(name) || REQUEST_PARTS_KEY.test(name);
}

/** Whether a string under `name` may carry credentials: a server's URL. */
export function isServerName(name: string): boolean {
  return URL_CONFIG_KEY.test(name);
}

/**
 * Whether text names, anywhere in it, a credential, a request's headers or query, or a server: a piece that SQL may
 * build into a config that holds credentials (jsonb_object's names, JSON text cast to jsonb).
 */
export function mentionsCredentialName(text: string): boolean {
  return [SECRET_CONFIG_KEY, /(headers|query)/i, /(base_url|endpoint)/i].some((names) => names.test(text));
}

/** The credentials in one config value, the value under `name`. */
export function credentialsIn(name: string, value: unknown): string[] {
  // A query parameter's name may be the key (extra_query => '{"sk-…": ""}'), as the whole of a URL's query may.
  if (isCredentialName(name)) return QUERY_PARTS_KEY.test(name) ? stringsAndNames(value) : strings(value);
  if (value !== null && typeof value === 'object') return Object.entries(value).flatMap(([inner, item]) => credentialsIn(Array.isArray(value) ? name : inner, item));
  if (typeof value !== 'string' || !URL_CONFIG_KEY.test(name)) return [];
  // Read as written and, without a scheme, as http://… too, as Ollama's clients read a host (review S: user:key@host
  // and host:11434?key were held as URLs with a scheme were not).
  const schemeLess = !SCHEME.test(value);
  const readings = [parsedUrl(value), schemeLess ? parsedUrl(`http://${value}`) : undefined].filter((url) => url !== undefined);
  if (readings.length === 0) return UNPARSED_CREDENTIALS.test(value) || (schemeLess && /[@?]/.test(value)) ? [value] : [];
  const credentials = readings.flatMap((url) => [decoded(url.username), decoded(url.password), ...queryCredentials(url)]);
  return [...new Set(credentials)].filter((credential) => credential !== '');
}

/** A URL's part with its percent escapes read, or as it is where they do not read (%zz). */
function decoded(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    return part;
  }
}

/**
 * A URL's query, whole as written, and each of its parameters' names and values: a key may be the whole query
 * (http://host/v1?sk-…), with an = of its own (?c2stS0VZ==, which reads as a name and a value), as a server setting's
 * check already counts (review S).
 */
function queryCredentials(url: URL): string[] {
  return url.search === '' ? [] : [url.search.slice(1), ...[...url.searchParams].flat()];
}

/**
 * Whether a server's URL as a setting gives it carries a user, a password or a query, any of which may be a key: the
 * query's names too (http://host/v1?sk-…), and with the scheme left out (user:key@host:11434, which Ollama's
 * functions call over http://). It is read both as it is, as a URL parser reads it (a tab or a newline anywhere and
 * spaces around it left out, a backslash for a slash: review Q), and with http:// before it; one that parses neither
 * way counts when it has an @ or a ?.
 */
export function urlCarriesCredentials(value: string): boolean {
  const readings = [parsedUrl(value), parsedUrl(`http://${value}`)].filter((url) => url !== undefined);
  if (readings.length === 0) return /[@?]/.test(value);
  return readings.some((url) => url.username !== '' || url.password !== '' || url.search !== '');
}

/** Whether the config holds any credential, so that it must be sealed. */
export function holdsCredentials(config: Record<string, unknown>): boolean {
  return Object.entries(config).some(([name, value]) => SECRET_CONFIG_KEY.test(name) || credentialsIn(name, value).length > 0);
}

/** The config as others may read it: credentials redacted, a URL's user, password and query masked. */
export function visibleConfig(config: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(config).map(([name, value]) => [name, shown(name, value)]));
}

function shown(name: string, value: unknown): unknown {
  if (SECRET_CONFIG_KEY.test(name)) return REDACTED;
  if (credentialsIn(name, value).length === 0) return value;
  if (REQUEST_PARTS_KEY.test(name)) return redactedLeaves(value);
  if (Array.isArray(value)) return value.map((item) => shown(name, item));
  if (typeof value === 'object') return visibleConfig(value as Record<string, unknown>);
  // One without a scheme has its credentials in the reading with http:// (credentialsIn): shown masked whole.
  const url = SCHEME.test(value as string) ? parsedUrl(value as string) : undefined;
  if (!url) return REDACTED;
  if (url.username) url.username = REDACTED;
  if (url.password) url.password = REDACTED;
  if (url.search !== '') url.search = REDACTED;
  return url.toString();
}

/** Every string in a JSON value, and every name of an object in it. */
function stringsAndNames(value: unknown): string[] {
  if (value === null || typeof value !== 'object') return strings(value);
  return Object.entries(value).flatMap(([name, item]) => [...(Array.isArray(value) ? [] : [name]), ...stringsAndNames(item)]);
}

/** Every string in a JSON value. */
function strings(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (value !== null && typeof value === 'object') return Object.values(value).flatMap(strings);
  return [];
}

/** A JSON value with each string in it redacted. */
function redactedLeaves(value: unknown): unknown {
  if (typeof value === 'string') return REDACTED;
  if (Array.isArray(value)) return value.map(redactedLeaves);
  if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, redactedLeaves(item)]));
  return value;
}

function parsedUrl(text: string): URL | undefined {
  try {
    return new URL(text);
  } catch {
    return undefined;
  }
}
