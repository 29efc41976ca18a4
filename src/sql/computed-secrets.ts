// A secret argument (functions/declaration.ts) computed in the statement from string constants written in it:
// 'sk-…' || '', coalesce('sk-…'), a config built as jsonb_build_object('api_key', 'sk-…'). The proxy holds back a
// secret written as one string constant (src/sql/secret-literals.ts), a reference in its place that the server
// evaluates as it would the constant; a piece of a computed value cannot be replaced so (the server would compute
// from the references, not from the secret), and the server's log and pg_stat_activity keep the statement's text.
// Such a statement is refused before the server gets it, unless none of its constants can be part of a secret:
// - an API key, a request's headers or query parameters: no string constant at all but a setting's name
//   (current_setting('…')), and the names of a jsonb_build_object, whose values are held to the same rule;
// - a config: a jsonb_build_object (or json_build_object) whose names are constants, each value a constant that holds
//   no credential under its name (src/crypto/config-secrets.ts: not api_key, token…, not headers or query, not a URL
//   with a password), an object built in turn, or an expression whose constants neither hold a credential nor name
//   one (repeat('x', 10), 'gpt-' || '4o'); under a credential's name, as for a key; under a server's name, and
//   anything else, no string constant;
// - a server's URL: no string constant.
// An empty string constant is never part of a secret.

import type { ArgumentDeclaration } from '../../functions/declaration.js';
import { PgError } from '../../proxy/pg-error.js';
import { holdsCredentials, isCredentialName, isServerName, mentionsCredentialName, QUERY_PARTS_KEY } from '../crypto/config-secrets.js';

type Node = Record<string, any>;

/** The expression under any casts and COLLATE clauses. */
export function uncast(expression: Node): Node {
  let node = expression;
  while (node.TypeCast || node.CollateClause) node = (node.TypeCast ?? node.CollateClause).arg;
  return node;
}

/** A string constant's value; undefined for any other node, and for an empty string (the parse tree may leave it out). */
export function writtenString(node: Node): string | undefined {
  const constant = node.A_Const as Node | undefined;
  return constant?.sval?.sval || undefined;
}

/** Refuses an expression given for a secret argument that computes it from string constants that may be part of it. */
export function refuseComputedSecret(expression: Node, declared: ArgumentDeclaration, functionName: string): void {
  if (!writesOutSecret(expression, declared.secret!, declared.name)) return;
  throw new PgError('0A000', `the ${declared.name} argument of ${functionName} is computed from string constants written in the statement`, {
    hint: `${HINTS[declared.secret!]} The proxy holds back a secret written as one string constant, but not one computed in SQL, which the server's log would keep.`,
  });
}

/**
 * Whether a value is computed from a bound parameter ($1, under casts or inside an expression): a value a client binds
 * there the proxy never sees in the statement.
 */
export function bindsParameter(value: unknown): boolean {
  return value !== undefined && value !== null && JSON.stringify(value).includes('"ParamRef"');
}

/**
 * Whether a secret argument's expression (other than one string constant) writes out constants that may be part of it.
 * `name`: the argument's, a query's (extra_query) making its parameters' names count as keys too.
 */
export function writesOutSecret(expression: Node, kind: NonNullable<ArgumentDeclaration['secret']>, name = ''): boolean {
  const node = uncast(expression);
  return kind === 'key' ? credentialIn(node, QUERY_PARTS_KEY.test(name)) : kind === 'config' ? configIn(node) : constantsIn(node);
}

const HINTS = {
  key: 'Write it as a single string constant, or pass it as a parameter.',
  config: 'Write the config as one JSON string constant, or pass it (or its credentials) as parameters: jsonb_build_object may name only constants that are not credentials.',
  url: 'Write the URL as a single string constant, or pass it as a parameter.',
};

/**
 * Whether an expression whose every string is a credential (a key, a header's value) writes out a string constant.
 * Under a query's name (`names`) a parameter's name may be the key too, unless a bound value follows it (review S:
 * jsonb_build_object('sk-…', '') made ?sk-…= of the request, and the statement's text held the key).
 */
function credentialIn(node: Node, names = false): boolean {
  const pairs = builtObject(node);
  if (!pairs) return constantsIn(node);
  const mayBeKey = (name: Node, value: Node): boolean => nameOf(name) === undefined || (names && !bindsParameter(value));
  return pairs.some(([name, value]) => (mayBeKey(name, value) && constantsIn(name)) || credentialIn(uncast(value), names));
}

/** Whether a config's expression writes out a string constant that may be part of a credential. */
function configIn(node: Node): boolean {
  const pairs = builtObject(node);
  if (!pairs) return constantsIn(node);
  return pairs.some(([nameNode, value]) => {
    const name = nameOf(nameNode);
    return name === undefined ? constantsIn(nameNode) || constantsIn(value) : valueIn(name, uncast(value));
  });
}

/** Whether a config's value under `name` writes out a string constant that may be part of a credential. */
function valueIn(name: string, node: Node): boolean {
  if (isCredentialName(name)) return credentialIn(node, QUERY_PARTS_KEY.test(name));
  const text = writtenString(node);
  if (text !== undefined) return constantHoldsCredentials(name, text);
  if (builtObject(node) || isServerName(name)) return configIn(node);
  // A value computed under a plain name is a credential only as an object that holds one, whose name (or JSON with
  // one) must then be written in some constant: a name split across constants is not looked for.
  return stringsIn(node).some((piece) => constantHoldsCredentials(name, piece) || mentionsCredentialName(piece));
}

/** A constant under `name` holds credentials as a string (a URL with a password), or as JSON (jsonb '{"api_key": …}'). */
function constantHoldsCredentials(name: string, text: string): boolean {
  if (holdsCredentials({ [name]: text })) return true;
  try {
    return holdsCredentials({ [name]: JSON.parse(text) as unknown });
  } catch {
    return false;
  }
}

/** Whether the expression writes out a non-empty string or bit-string constant other than a setting's name. */
function constantsIn(node: unknown): boolean {
  return stringsIn(node).length > 0;
}

/** The non-empty string and bit-string constants the expression writes out, but for a setting's name. */
function stringsIn(node: unknown): string[] {
  if (Array.isArray(node)) return node.flatMap(stringsIn);
  if (node === null || typeof node !== 'object') return [];
  return Object.entries(node).flatMap(([key, value]): string[] => {
    if (key === 'A_Const') return [writtenString({ A_Const: value }) ?? value.bsval?.bsval].filter((text): text is string => text !== undefined);
    if (key !== 'FuncCall' || !calls(value, 'current_setting')) return stringsIn(value);
    const [setting, ...rest] = (value.args ?? []) as Node[];
    return stringsIn({ ...value, args: setting && writtenString(uncast(setting)) !== undefined ? rest : value.args });
  });
}

const PLAIN_CALL = new Set(['funcname', 'args', 'funcformat', 'location']);

/** The name and value expressions of a jsonb_build_object or json_build_object call, as written. */
function builtObject(node: Node): Array<[Node, Node]> | undefined {
  const call = node.FuncCall as Node | undefined;
  if (!call || !(calls(call, 'jsonb_build_object') || calls(call, 'json_build_object'))) return undefined;
  // VARIADIC, FILTER, OVER, ORDER BY: its names and values are not its arguments' pairs (the server's error aside).
  if (Object.keys(call).some((field) => !PLAIN_CALL.has(field))) return undefined;
  const args = (call.args ?? []) as Node[];
  if (args.length % 2 !== 0) return undefined;
  return Array.from({ length: args.length / 2 }, (_, i) => [args[2 * i]!, args[2 * i + 1]!]);
}

/** A name written as a string constant, under any casts. */
function nameOf(node: Node): string | undefined {
  return writtenString(uncast(node));
}

/** Whether a FuncCall is of pg_catalog's function `name`, qualified or not. */
function calls(call: Node, name: string): boolean {
  const parts = ((call.funcname ?? []) as Node[]).map((part) => part.String?.sval as string | undefined);
  return parts.at(-1) === name && (parts.length === 1 || (parts.length === 2 && parts[0] === 'pg_catalog'));
}
