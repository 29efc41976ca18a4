// The parameters a statement binds for arguments declared secret, and for nothing else: api_key => $1, under any
// casts. The proxy holds their values at Bind (src/intercept/held-parameters.ts) as it holds a secret written out in a
// call, so the server, its log of bind parameters and the tables of a collect pass (pg_temp.pg_llm_collected_calls,
// which code of other roles that the statement runs can read) see only a reference. A parameter the statement also
// reads elsewhere keeps its value (that code would read the reference, not what the client bound), and so does a
// secret computed from parameters ($1 || ''): the proxy cannot tell which part of it is the secret.

import type { ArgumentDeclaration } from '../../functions/declaration.js';
import { qualifiedName } from '../../functions/registry.js';
import { uncast } from './computed-secrets.js';
import { declaredArguments } from './declared-arguments.js';

type Node = Record<string, any>;

/** A parameter bound for a secret argument: its number ($1 is 1), the function it is for, as a SecretLiteral's. */
export interface SecretParameter {
  number: number;
  kind: NonNullable<ArgumentDeclaration['secret']>;
  /** Its argument is jsonb: the reference must reach the server as a JSON string. */
  json: boolean;
  writtenFor: string;
}

/** The parameters of a parsed statement bound only in secret arguments' places, of one function and kind each. */
export function secretParameters(statement: unknown): SecretParameter[] {
  const uses = new Map<number, number>();
  const secret = new Map<number, SecretParameter[]>();
  walk(statement, (node) => {
    if (typeof node.ParamRef?.number === 'number') uses.set(node.ParamRef.number, (uses.get(node.ParamRef.number) ?? 0) + 1);
    if (node.FuncCall) secretPlaces(node.FuncCall as Node, secret);
  });
  return [...secret.values()].flatMap((places) => {
    const [first] = places as [SecretParameter];
    const alike = places.every((place) => place.kind === first.kind && place.json === first.json && place.writtenFor === first.writtenFor);
    return alike && uses.get(first.number) === places.length ? [first] : [];
  });
}

function secretPlaces(call: Node, secret: Map<number, SecretParameter[]>): void {
  const { declarations, arguments: found } = declaredArguments(call);
  if (declarations.length === 0) return;
  const writtenFor = qualifiedName(declarations[0]!);
  for (const { declared, expression } of found) {
    const number = declared?.secret ? uncast(expression).ParamRef?.number : undefined;
    if (typeof number !== 'number') continue;
    secret.set(number, [...(secret.get(number) ?? []), { number, kind: declared!.secret!, json: declared!.type === 'jsonb', writtenFor }]);
  }
}

function walk(node: unknown, onNode: (node: Node) => void): void {
  if (Array.isArray(node)) return node.forEach((item) => walk(item, onNode));
  if (node === null || typeof node !== 'object') return;
  onNode(node as Node);
  for (const value of Object.values(node)) walk(value, onNode);
}
