// The string constants that calls of intercepted functions give for arguments declared secret (functions/
// declaration.ts): an API key written out, positional or named, under any casts or COLLATE, a request's headers or query
// parameters (pgai's extra_headers), a config that holds credentials (a model's, pgai's client_config), and a
// server's URL that carries them (pgai's base_url => 'http://user:password@host'). The proxy holds them back from the server (src/intercept/literal-secrets.ts), whose log and
// pg_stat_activity would keep the statement's text. A secret computed in SQL never shows in the text.

import { scanSync } from 'libpg-query';
import type { ArgumentDeclaration } from '../../functions/declaration.js';
import { functionsCalled } from '../../functions/registry.js';
import { PgError } from '../../proxy/pg-error.js';
import { credentialsIn, holdsCredentials } from '../crypto/config-secrets.js';
import type { HeldSpan } from './api-key-statements.js';

type Node = Record<string, any>;

/** A secret literal, and whether its argument is jsonb (the server must read its reference as JSON). */
export interface SecretLiteral extends HeldSpan {
  json: boolean;
}

type Found = { value: string; start: number; json: boolean };

/** The secret literals in a parsed statement (locations count bytes of `sql`, the query string parsed), in order. */
export function secretLiterals(statement: unknown, sql: string): SecretLiteral[] {
  const found: Found[] = [];
  visit(statement, found);
  if (found.length === 0) return [];
  const tokens = scanSync(sql).tokens;
  return found
    .map(({ value, start, json }) => {
      const token = tokens.find((candidate) => candidate.start === start)!;
      // The parse tree keeps a U&'…' constant's escapes undecoded: its value is not the key it spells.
      if (/^u&/i.test(token.text)) {
        throw new PgError('0A000', 'a secret argument cannot be written as a U& string constant', {
          hint: "Write it as '…' or E'…' (the proxy keeps it, the server gets only a reference to it), or pass it as a parameter.",
        });
      }
      return { value, start, end: token.end, json };
    })
    .sort((a, b) => a.start - b.start);
}

function visit(node: unknown, found: Found[]): void {
  if (Array.isArray(node)) return node.forEach((item) => visit(item, found));
  if (node === null || typeof node !== 'object') return;
  for (const [key, value] of Object.entries(node)) {
    if (key === 'FuncCall') found.push(...literalsOfCall(value as Node));
    visit(value, found);
  }
}

function literalsOfCall(call: Node): Found[] {
  const declarations = functionsCalled((call.funcname ?? []).map((part: Node) => part.String?.sval ?? ''));
  if (declarations.length === 0) return [];
  const literals: Found[] = [];
  (call.args as Node[] | undefined)?.forEach((argument, position) => {
    const named = argument.NamedArgExpr as Node | undefined;
    // Overloads agree on which arguments are secret (functions/registry.ts): the first that has it says.
    const declared = declarations
      .map((declaration): ArgumentDeclaration | undefined => (named ? declaration.arguments.find((candidate) => candidate.name === named.name) : declaration.arguments[position]))
      .find((candidate) => candidate !== undefined);
    const constant = declared?.secret ? stringConstant(named ? named.arg : argument) : undefined;
    if (constant && isSecret(declared!.secret!, constant.value)) literals.push({ ...constant, json: declared!.type === 'jsonb' });
  });
  return literals;
}

/** A string constant, under any casts and COLLATE clauses; the parse tree leaves out an empty string's value. */
function stringConstant(expression: Node): { value: string; start: number } | undefined {
  let node = expression;
  while (node.TypeCast || node.CollateClause) node = (node.TypeCast ?? node.CollateClause).arg;
  const constant = node.A_Const as Node | undefined;
  if (constant?.sval === undefined || !constant.sval.sval) return undefined;
  return { value: constant.sval.sval, start: constant.location };
}

function isSecret(kind: 'key' | 'config' | 'url', value: string): boolean {
  if (kind === 'key') return true;
  return kind === 'url' ? credentialsIn('base_url', value).length > 0 : configHoldsCredentials(value);
}

/** A config that does not parse is held too: the proxy's error for it quotes none of it. */
function configHoldsCredentials(text: string): boolean {
  try {
    const config: unknown = JSON.parse(text);
    return typeof config === 'object' && config !== null && holdsCredentials(config as Record<string, unknown>);
  } catch {
    return true;
  }
}
