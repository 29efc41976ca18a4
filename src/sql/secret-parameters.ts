// The parameters a statement binds for arguments declared secret: api_key => $1, under any casts. The proxy holds
// their values at Bind (src/intercept/held-parameters.ts) as it holds a secret written out in a call, so the server,
// its log of bind parameters and the tables of a collect pass (pg_temp.pg_llm_collected_calls, which code of other
// roles that the statement runs can read) see only a reference. One parameter may be bound for the secret arguments
// of several functions (the same key for a chat and an embedding): its reference opens in calls of those only. A
// parameter the statement also reads outside secret arguments, or for secrets of other kinds, and a key or headers
// computed from parameters ($1 || '', jsonb_build_object('x-key', $1)) are refused: the server would have the value
// in the clear, and hand it to that code (a reference would not do: the server computes with what it is given). A
// config or URL computed from a parameter is left to the server as it is (docs/security.md): it is mostly names and
// plain values, which the proxy cannot tell from a credential there.

import type { ArgumentDeclaration } from '../../functions/declaration.js';
import { qualifiedName } from '../../functions/registry.js';
import { PgError } from '../../proxy/pg-error.js';
import { uncast } from './computed-secrets.js';
import { declaredArguments } from './declared-arguments.js';
import { withDerivedColumns } from './derived-columns.js';
import { eachCall, type Scope } from './statement-scopes.js';

type Node = Record<string, any>;

/** A parameter bound for secret arguments: its number ($1 is 1), and the functions whose calls may open its reference. */
export interface SecretParameter {
  number: number;
  kind: NonNullable<ArgumentDeclaration['secret']>;
  /** Its arguments are jsonb: the reference must reach the server as a JSON string. */
  json: boolean;
  writtenFor: string[];
}

/** One secret argument's place a parameter fills. */
interface Place {
  kind: SecretParameter['kind'];
  json: boolean;
  writtenFor: string;
  /** The argument, for messages: "the api_key argument of ai.openai_embed". */
  argument: string;
}

/** The parameters of a parsed statement bound in secret arguments' places; refuses those it could not hold. */
export function secretParameters(statement: unknown): SecretParameter[] {
  const uses = new Map<number, number>();
  const places = new Map<number, Place[]>();
  const computed = new Map<number, number>();
  walk(statement, (node) => {
    if (typeof node.ParamRef?.number === 'number') uses.set(node.ParamRef.number, (uses.get(node.ParamRef.number) ?? 0) + 1);
  });
  eachCall(statement, (call, scope) => secretPlaces(call, scope, places, computed));
  return [...places].flatMap(([number, found]): SecretParameter[] => {
    const [first] = found as [Place];
    // Also read in a config computed from it: left to the server (its reference would not do there).
    if (computed.has(number)) return [];
    if (uses.get(number) !== found.length) {
      throw new PgError('0A000', `parameter $${number} is bound for ${first.argument} and read elsewhere in the statement too`, {
        hint: 'Bind the secret in a parameter of its own, read only as secret arguments: the proxy holds such a parameter at Bind, so that the server never has it.',
      });
    }
    const other = found.find((place) => place.kind !== first.kind || place.json !== first.json);
    if (other) {
      throw new PgError('0A000', `parameter $${number} is bound for secrets of different kinds: ${first.argument} and ${other.argument}`, {
        hint: 'Bind each in a parameter of its own.',
      });
    }
    return [{ number, kind: first.kind, json: first.json, writtenFor: [...new Set(found.map((place) => place.writtenFor))] }];
  });
}

/**
 * The places parameters fill in the call's secret arguments; `computed` counts those read in a config or URL computed
 * from them. A parameter the argument reads through a column of a subquery, CTE, VALUES list or function in FROM,
 * or of the row the statement writes (derived-columns.ts), is refused: the proxy holds a parameter at Bind where the
 * call takes it, and one passed through a column the server would have in the clear, for the code the statement runs
 * to read (review R1).
 */
function secretPlaces(call: Node, scope: Scope | undefined, places: Map<number, Place[]>, computed: Map<number, number>): void {
  const { declarations, arguments: found } = declaredArguments(call);
  if (declarations.length === 0) return;
  const writtenFor = qualifiedName(declarations[0]!);
  for (const { declared, expression } of found) {
    if (!declared?.secret) continue;
    const argument = `the ${declared.name} argument of ${writtenFor}`;
    const number = uncast(expression).ParamRef?.number;
    if (typeof number === 'number') places.set(number, [...(places.get(number) ?? []), { kind: declared.secret, json: declared.type === 'jsonb', writtenFor, argument }]);
    else {
      const followed = withDerivedColumns(expression, scope, argument);
      if (followed !== expression && (declared.secret === 'key' || 'ParamRef' in uncast(followed)) && parametersRead(followed).length > 0) {
        throw new PgError('0A000', `${argument} reads a bound parameter through a column the statement defines (a subquery's, CTE's, VALUES list's, FROM function's, or the row it writes)`, {
          hint: `Bind it in the call itself (${declared.name} => $1): the proxy holds a parameter bound for a secret argument, not one the statement passes through its columns, which the server would have in the clear.`,
        });
      }
      const read = parametersRead(followed);
      if (read.length > 0 && declared.secret === 'key') {
        throw new PgError('0A000', `${argument} is computed from parameters`, {
          hint: `Bind its whole value as one parameter (${declared.name} => $1): the proxy holds a secret bound so, not one the server computes, which it would have in the clear.`,
        });
      }
      for (const number of read) computed.set(number, (computed.get(number) ?? 0) + 1);
    }
  }
}

/** The parameters the expression reads, but in calls of the proxy's, whose arguments are judged as their own. */
function parametersRead(expression: unknown): number[] {
  const read: number[] = [];
  walk(expression, (node) => {
    if (typeof node.ParamRef?.number === 'number') read.push(node.ParamRef.number);
    return !(node.FuncCall && declaredArguments(node.FuncCall as Node).declarations.length > 0);
  });
  return read;
}

/** Calls onNode for each node, depth first; a node for which it returns false is not gone into. */
function walk(node: unknown, onNode: (node: Node) => boolean | void): void {
  if (Array.isArray(node)) return node.forEach((item) => walk(item, onNode));
  if (node === null || typeof node !== 'object') return;
  if (onNode(node as Node) === false) return;
  for (const value of Object.values(node)) walk(value, onNode);
}
