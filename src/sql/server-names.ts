// Where a client's statement names a server: the values it gives in a server's place, and nowhere else. That is the
// base_url, host or config (client_config, a model's config) argument of a call of the proxy's functions, the value of
// a SET of one of pgai's server settings (ai.openai_base_url, ai.ollama_host…), and the value of a set_config of one
// with its name written out. A URL elsewhere in the statement (a column's value, a prompt, a parameter bound for
// anything else) names nothing: an application binds its users' URLs into statements that call models too (review
// issue 12), and another role's view must not be able to send the session's key to such a server.

import { constantText, type Expression } from './constant-text.js';
import { declaredArguments } from './declared-arguments.js';

type Node = Record<string, any>;

export interface ServerNames {
  /** String constants given in a server's place: a URL, or a JSON config (named-servers.ts reads its server). */
  values: string[];
  /** The numbers ($1 is 1) of the parameters bound in a server's place, read the same way at Bind. */
  parameters: number[];
}

/** pgai's settings that name a server rather than hold a key (api-key-statements.ts leaves them to the server). */
export function isServerSetting(name: string | undefined): boolean {
  return name !== undefined && /^ai\..+_(?:host|url)$/i.test(name);
}

/** The JSON keys of a config that name its server. */
export const SERVER_KEYS = new Set(['base_url', 'host', 'endpoint', 'api_endpoint']);

const BUILD_OBJECT = new Set(['json_build_object', 'jsonb_build_object']);

/** The server names of the parsed statements (nodes of libpg-query's tree). */
export function serverNames(statements: unknown[]): ServerNames {
  const names: ServerNames = { values: [], parameters: [] };
  statements.forEach((statement) => visit(statement, names));
  return names;
}

function visit(node: unknown, names: ServerNames): void {
  if (Array.isArray(node)) return node.forEach((item) => visit(item, names));
  if (node === null || typeof node !== 'object') return;
  const set = node as Node;
  if (set.kind === 'VAR_SET_VALUE' && isServerSetting(set.name)) {
    const value = set.args?.length === 1 ? set.args[0].A_Const?.sval?.sval : undefined;
    if (typeof value === 'string') names.values.push(value);
  }
  for (const [key, value] of Object.entries(node)) {
    if (key === 'FuncCall') serversOfCall(value as Node, names);
    visit(value, names);
  }
}

function serversOfCall(call: Node, names: ServerNames): void {
  if (call.funcname?.at(-1)?.String?.sval === 'set_config') {
    const [setting, value] = (call.args ?? []) as Node[];
    if (isServerSetting(constantText(setting as Expression))) given(value, names);
    return;
  }
  for (const { declared, expression } of declaredArguments(call).arguments) {
    if (declared?.secret === 'url' || declared?.secret === 'config') given(expression, names);
  }
}

/**
 * What an expression given in a server's place names: its constants and parameters, under casts and operators;
 * of an object built in SQL (jsonb_build_object), only the values under a server's key.
 */
function given(expression: unknown, names: ServerNames): void {
  if (Array.isArray(expression)) return expression.forEach((item) => given(item, names));
  if (expression === null || typeof expression !== 'object') return;
  const node = expression as Node;
  if (typeof node.A_Const?.sval?.sval === 'string') return void names.values.push(node.A_Const.sval.sval);
  if (typeof node.ParamRef?.number === 'number') return void names.parameters.push(node.ParamRef.number);
  const call = node.FuncCall as Node | undefined;
  if (call && BUILD_OBJECT.has(call.funcname?.at(-1)?.String?.sval)) {
    const args = (call.args ?? []) as Node[];
    for (let at = 0; at + 1 < args.length; at += 2) if (SERVER_KEYS.has(constantText(args[at] as Expression)?.toLowerCase() ?? '')) given(args[at + 1], names);
    return;
  }
  Object.values(node).forEach((child) => given(child, names));
}
