// Which values of a model config are credentials: those under a credential's name (api_key, token, password…), and
// the user, password and query values of a server URL (http://key@host, http://user:password@host/v1?key=…, as
// gateways take keys). They
// are sealed and never shown; the config others may read holds a redacted form.

import { REDACTED } from './secrets.js';

/** Config keys whose values are credentials. */
const SECRET_CONFIG_KEY = /(api_?key|token|secret|password|authorization|credential)/i;
/** Config keys naming a server, whose URL may carry credentials. */
const URL_CONFIG_KEY = /^(base_url|endpoint|api_endpoint)$/i;

/** The credentials in one config value. */
export function credentialsIn(name: string, value: unknown): string[] {
  if (typeof value !== 'string') return [];
  if (SECRET_CONFIG_KEY.test(name)) return [value];
  if (!URL_CONFIG_KEY.test(name)) return [];
  const url = parsedUrl(value);
  if (!url) return [];
  return [decodeURIComponent(url.username), decodeURIComponent(url.password), ...url.searchParams.values()].filter((credential) => credential !== '');
}

/** Whether the config holds any credential, so that it must be sealed. */
export function holdsCredentials(config: Record<string, unknown>): boolean {
  return Object.entries(config).some(([name, value]) => SECRET_CONFIG_KEY.test(name) || credentialsIn(name, value).length > 0);
}

/** The config as others may read it: credentials redacted, a URL's user, password and query values masked. */
export function visibleConfig(config: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(config).map(([name, value]) => [name, shown(name, value)]));
}

function shown(name: string, value: unknown): unknown {
  if (SECRET_CONFIG_KEY.test(name)) return REDACTED;
  if (credentialsIn(name, value).length === 0) return value;
  const url = parsedUrl(value as string)!;
  if (url.username) url.username = REDACTED;
  if (url.password) url.password = REDACTED;
  for (const key of new Set(url.searchParams.keys())) url.searchParams.set(key, REDACTED);
  return url.toString();
}

function parsedUrl(text: string): URL | undefined {
  try {
    return new URL(text);
  } catch {
    return undefined;
  }
}
