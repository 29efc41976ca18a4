// Where a pgai call goes and with which key, found as pgai finds them: the api_key argument; else the session's
// setting ai.<api_key_name>, lower-cased (SET ai.openai_api_key, the default name being the provider's:
// OPENAI_API_KEY, ANTHROPIC_API_KEY, COHERE_API_KEY, VOYAGE_API_KEY); else the proxy's environment. The server is
// the call's own (a base_url argument or client_config) or the session's (ai.openai_base_url, ai.ollama_host…),
// else the proxy's environment (OPENAI_BASE_URL, OLLAMA_HOST…), else the provider's.
// The proxy's own keys are the operator's, so they are stricter than pgai's server environment: only the provider's
// default variable is read (api_key_name cannot reach PG_LLM_MASTER_KEY or another provider's key), and such a key
// goes only to the server the operator configured, never to a base URL a caller chose. Nor does api_key_name name
// another provider's default key in the session (an Anthropic key sent as an OpenAI bearer): a key goes only to the
// API it is for, whoever wrote the name (a vectorizer's config, functions/pgai/vectorizer-embed.ts). A key the session
// handed the proxy goes to a server a call chose only when the client named it (../named-server.ts); a setting's
// server is used at all only when the client chose it (settingsServer).

import { PgError } from '../../proxy/pg-error.js';
import type { PgaiApiName } from '../../src/providers/pgai/apis.js';
import type { AiSetting, CallContext } from '../declaration.js';
import { keyNameKind, refuseUnnamedServer } from '../named-server.js';
import { settingCase } from '../../src/sql/setting-case.js';

export interface Endpoint {
  baseUrl: string | undefined;
  apiKey: string | undefined;
}

const KEY_NAMES: Partial<Record<PgaiApiName, string>> = {
  openai: 'OPENAI_API_KEY',
  anthropic: 'ANTHROPIC_API_KEY',
  cohere: 'COHERE_API_KEY',
  voyageai: 'VOYAGE_API_KEY',
};

/** The key name a call of the API uses when it names none: the provider's own. */
export function defaultKeyName(api: PgaiApiName): string | undefined {
  return KEY_NAMES[api];
}

/**
 * The session's setting for the server (pgai's own are ai.openai_base_url and ai.ollama_host), the proxy's variable,
 * and the argument of the API's calls that names one, if any.
 */
const SERVERS: Record<PgaiApiName, { setting: string; variable: string; argument?: string }> = {
  openai: { setting: 'openai_base_url', variable: 'OPENAI_BASE_URL', argument: "client_config's base_url" },
  anthropic: { setting: 'anthropic_base_url', variable: 'ANTHROPIC_BASE_URL', argument: 'base_url' },
  ollama: { setting: 'ollama_host', variable: 'OLLAMA_HOST', argument: 'host' },
  cohere: { setting: 'cohere_base_url', variable: 'CO_API_URL' },
  voyageai: { setting: 'voyageai_base_url', variable: 'VOYAGE_BASE_URL' },
};

/**
 * `baseUrl`: the call's own choice of server (an argument, client_config), if any. `context` is the caller's session,
 * or, for the vectorizer's worker, no session at all: no setting, the proxy's environment only.
 */
export async function endpoint(context: EndpointContext, api: PgaiApiName, args: Record<string, unknown>, baseUrl?: unknown): Promise<Endpoint> {
  const server = SERVERS[api];
  const proxys = context.defaults.environment(server.variable);
  const own = text(baseUrl);
  const chosen = own ?? settingsServer(api, await context.aiSetting(server.setting), proxys, context);
  const servers: Servers = { own, chosen, proxys };
  const defaultName = defaultKeyName(api);
  if (!defaultName) return routed(context, api, servers, undefined, false);
  const given = text(args.api_key);
  if (given) return routed(context, api, servers, given, context.heldArguments.has('api_key'));
  // As PostgreSQL names the setting (ASCII letters folded only): the checks below are of the setting read.
  const written = text(args.api_key_name) ?? defaultName;
  const name = settingCase(written);
  const isDefault = name === settingCase(defaultName);
  const keysApi = (Object.keys(KEY_NAMES) as PgaiApiName[]).find((other) => settingCase(KEY_NAMES[other]!) === name);
  if (keysApi && keysApi !== api) {
    throw new PgError('42501', `api_key_name ${written} names another provider's key: it is not sent to the ${api} API`, {
      hint: `Use the ${api} API's own key (SET ai.${settingCase(defaultName)}), a key under a name of your own (SET ai.<name>), or pass api_key.`,
    });
  }
  const set = await context.aiSetting(name);
  if (set) {
    // A key the session handed the proxy under a name of its own goes only to an API the client named it for: a
    // view of another role could otherwise send the session's Cohere key to OpenAI (review S-B).
    if (set.held && !isDefault && !context.namedByClient(name, keyNameKind(api))) {
      throw new PgError('42501', `the key in ai.${name} goes only to an API this session's client named it for, and this ${api} call was written elsewhere`, {
        hint: `Write api_key_name => '${written}' in a call of the ${api} API in your own statement, or use the API's own key (SET ai.${settingCase(defaultName)}); a view or function of another role run by your statement cannot choose which of your keys goes where.`,
      });
    }
    return routed(context, api, servers, set.value, set.held);
  }
  const operators = isDefault ? context.defaults.environment(defaultName) : undefined;
  if (!operators) {
    throw new PgError('55000', `missing ${written} secret`, {
      hint: `Pass api_key, or SET ai.${name} in the session${isDefault ? `, or start the proxy with ${defaultName} in its environment` : ''}.`,
    });
  }
  if (chosen) {
    // The hint names no URL: the error reaches the server's log, and a URL may carry credentials.
    throw new PgError('42501', `the proxy's ${defaultName} is sent only to the server the proxy is configured with`, {
      hint: `To call another server, pass api_key or SET ai.${settingCase(defaultName)}; the operator sets the proxy's server with ${server.variable}.`,
    });
  }
  return { baseUrl: proxys, apiKey: operators };
}

/** What endpoint() reads of the caller's call and session. */
export type EndpointContext = Pick<CallContext, 'aiSetting' | 'defaults' | 'heldArguments' | 'namedByClient'>;

/** A context without a session (the vectorizer's worker): no setting, nothing held, no server named by a client. */
export function sessionless(defaults: CallContext['defaults']): EndpointContext {
  return { aiSetting: async () => undefined, defaults, heldArguments: new Set(), namedByClient: () => false };
}

/**
 * The server the session's setting names, used only when the client chose it: set it itself (SET, set_config written
 * in its statement, its startup options: src/intercept/named-servers.ts) or it is the value the session starts with
 * (ALTER ROLE/DATABASE … SET). Whatever the key, or none: code of another role that the session ran (a view's
 * set_config) can set the setting too, and would have the session's prompts, and any key it sends, go to its server.
 */
function settingsServer(api: PgaiApiName, setting: AiSetting | undefined, proxys: string | undefined, context: EndpointContext): string | undefined {
  if (!setting || setting.value === proxys || setting.preset || context.namedByClient(setting.value, api)) return setting?.value;
  const { setting: name, argument } = SERVERS[api];
  // No URL is quoted: the error reaches the server's log.
  throw new PgError('42501', `the server in ai.${name} was not set by this session's client: a view or function of another role may have set it`, {
    hint: `SET ai.${name} in the session${argument ? `, or pass ${argument} in the call` : ''}; ALTER ROLE … SET counts too.`,
  });
}

/** The call's own server (an argument), the one chosen (its own or the setting's), and the proxy's. */
interface Servers {
  own: string | undefined;
  chosen: string | undefined;
  proxys: string | undefined;
}

/**
 * The call's server and key: a held key, or any held argument, goes to a server the call chose only if the client
 * named it (a setting's server is the client's choice already: settingsServer).
 */
function routed(context: EndpointContext, api: PgaiApiName, { own, chosen, proxys }: Servers, apiKey: string | undefined, held: boolean): Endpoint {
  if (own !== proxys) {
    refuseUnnamedServer(context, own, api, held, `the ${api} server of this call`, `Write the server's URL in your statement (base_url, client_config) or SET ai.${SERVERS[api].setting} in the session`);
  }
  return { baseUrl: chosen ?? proxys, apiKey };
}

/** A text argument or setting, or undefined when it is NULL or empty. */
function text(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}
