// Where a client's statement names a server: the values it gives in a server's place, and nowhere else. That is the
// base_url, host or config (client_config, a model's config) argument of a call of the proxy's functions, the value of
// a SET of one of pgai's server settings (ai.openai_base_url, ai.ollama_host…), and the value of a set_config of one
// with its name written out. A URL elsewhere in the statement (a column's value, a prompt, a parameter bound for
// anything else) names nothing: an application binds its users' URLs into statements that call models too (review
// issue 12), and another role's view must not be able to send the session's key to such a server.
// pg_llm.trusted_owners is read the same way, its value whatever it is: the roles whose objects the statements the
// proxy runs may reach (src/sql/function-check.ts) are those the client named itself, not those a view of one of
// them named in its place.

import { constantText, uncast, type Expression } from './constant-text.js';
import { declaredArguments } from './declared-arguments.js';
import { keyNameKind } from '../../functions/named-server.js';
import { sqlFunctionsCalled } from '../../functions/registry.js';

type Node = Record<string, any>;

/**
 * Which servers a named URL is for: the API of pgai's setting or function that named it (ai.ollama_host and
 * ai.ollama_embed's host name an Ollama server), or 'model' for the proxy's own functions (a model's config). A URL
 * named for one is not named for another: a client that points a keyless API at a server (Ollama's, at someone
 * else's) has not chosen it for its keys.
 */
export type ServerKind = string;

export interface ServerNames {
  /**
   * String constants given in a server's place: a URL, or a JSON config (named-servers.ts reads its server); with the
   * index of the statement giving it, as a RESET before it in the query string does not take it back.
   */
  values: Array<{ value: string; kind: ServerKind; statement: number; local?: true }>;
  /** The numbers ($1 is 1) of the parameters bound in a server's place, read the same way at Bind. */
  parameters: Array<{ number: number; kind: ServerKind }>;
  /**
   * Of those, the ones bound whole (under casts) as a server setting's value (set_config('ai.ollama_host', $1, …)):
   * the server keeps the value, which must carry no credentials (checked at Bind: bound-server-settings.ts).
   */
  settingParameters: Array<{ number: number; kind: ServerKind; setting: string }>;
}

/** The APIs whose names pgai's settings and functions carry (ai.openai_base_url, ai.voyageai_embed…). */
const PGAI_APIS = ['openai', 'anthropic', 'ollama', 'cohere', 'voyageai'];

/** The kind of server a setting's or function's name is for. */
export function serverKind(name: string): ServerKind {
  const lower = name.toLowerCase();
  return PGAI_APIS.find((api) => lower.includes(api)) ?? 'model';
}

/** pgai's settings that name a server rather than hold a key (api-key-statements.ts leaves them to the server). */
export function isServerSetting(name: string | undefined): boolean {
  return name !== undefined && /^ai\..+_(?:host|url)$/i.test(name);
}

/** The setting naming the roles the caller trusts; what the client sets it to is noted as of this kind. */
export const TRUSTED_OWNERS = 'pg_llm.trusted_owners';

/** The kind a setting's value is noted as when the client sets it, or undefined for a setting not noted. */
export function chosenSettingKind(name: string | undefined): ServerKind | undefined {
  if (isServerSetting(name)) return serverKind(name!);
  return name?.toLowerCase() === TRUSTED_OWNERS ? TRUSTED_OWNERS : undefined;
}

/** The JSON keys of a config that name its server. */
export const SERVER_KEYS = new Set(['base_url', 'host', 'endpoint', 'api_endpoint']);

const BUILD_OBJECT = new Set(['json_build_object', 'jsonb_build_object']);

/** The server names of the parsed statements (nodes of libpg-query's tree). */
export function serverNames(statements: unknown[]): ServerNames {
  const names: ServerNames = { values: [], parameters: [], settingParameters: [] };
  statements.forEach((statement, index) => visit(statement, names, index));
  return names;
}

function visit(node: unknown, names: ServerNames, statement: number): void {
  if (Array.isArray(node)) return node.forEach((item) => visit(item, names, statement));
  if (node === null || typeof node !== 'object') return;
  const set = node as Node;
  const kind = set.kind === 'VAR_SET_VALUE' ? chosenSettingKind(set.name) : undefined;
  if (kind) {
    const value = set.args?.length === 1 ? set.args[0].A_Const?.sval?.sval : undefined;
    if (typeof value === 'string') names.values.push({ value, kind, statement, ...(set.is_local === true && { local: true as const }) });
  }
  for (const [key, value] of Object.entries(node)) {
    if (key === 'FuncCall') serversOfCall(value as Node, names, statement);
    visit(value, names, statement);
  }
}

function serversOfCall(call: Node, names: ServerNames, statement: number): void {
  const name = String(call.funcname?.at(-1)?.String?.sval ?? '');
  if (name === 'set_config') {
    const [setting, value, isLocal] = (call.args ?? []) as Node[];
    const settingName = constantText(setting as Expression);
    const kind = chosenSettingKind(settingName);
    if (kind) given(value, kind, names, statement, !writtenFalse(isLocal));
    const bound = isServerSetting(settingName) ? (uncast(value as Expression) as Node | undefined)?.ParamRef?.number : undefined;
    if (typeof bound === 'number') names.settingParameters.push({ number: bound, kind: kind!, setting: settingName!.toLowerCase() });
    return;
  }
  for (const { declared, expression } of declaredArguments(call).arguments) {
    if (declared?.secret === 'url' || declared?.secret === 'config') given(expression, serverKind(name), names, statement);
    if (declared?.keyName) given(expression, keyNameKind(serverKind(name)), names, statement);
  }
  // A config builder's key name (ai.embedding_openai(…, api_key_name => …)): the server runs the builder, but the client
  // wrote the name for that API all the same.
  for (const { declared, expression } of declaredArguments(call, sqlFunctionsCalled).arguments) {
    if (declared?.keyName) given(expression, keyNameKind(serverKind(name)), names, statement);
  }
}

/**
 * What an expression given in a server's place names: a constant or a parameter that is the whole value, under casts
 * and COALESCE; of an object built in SQL (jsonb_build_object), the values under a server's key. Nothing deeper: a
 * parameter in a subquery, a condition or an operator's operand (a lookup by a user's URL) is not the server.
 */
/** `local`: given for a transaction only (set_config(…, true)). */
function given(expression: unknown, kind: ServerKind, names: ServerNames, statement: number, local = false): void {
  if (expression === null || typeof expression !== 'object') return;
  const node = expression as Node;
  if (typeof node.A_Const?.sval?.sval === 'string') return void names.values.push({ value: node.A_Const.sval.sval, kind, statement, ...(local && { local: true as const }) });
  if (typeof node.ParamRef?.number === 'number') return void names.parameters.push({ number: node.ParamRef.number, kind });
  if (node.TypeCast) return given(node.TypeCast.arg, kind, names, statement, local);
  if (node.CoalesceExpr) return ((node.CoalesceExpr.args ?? []) as Node[]).forEach((arg) => given(arg, kind, names, statement, local));
  const call = node.FuncCall as Node | undefined;
  if (call && BUILD_OBJECT.has(call.funcname?.at(-1)?.String?.sval)) {
    const args = (call.args ?? []) as Node[];
    for (let at = 0; at + 1 < args.length; at += 2) if (SERVER_KEYS.has(constantText(args[at] as Expression)?.toLowerCase() ?? '')) given(args[at + 1], kind, names, statement, local);
  }
}

/** A boolean written false (false, 'off', 'no'…); anything else may be true when the statement runs. */
function writtenFalse(expression: unknown): boolean {
  const node = uncast(expression as Expression) as Node | undefined;
  if (node?.A_Const?.boolval) return node.A_Const.boolval.boolval !== true;
  return ['f', 'false', 'n', 'no', 'of', 'off', '0'].includes(constantText(node as Expression)?.trim().toLowerCase() ?? '');
}
