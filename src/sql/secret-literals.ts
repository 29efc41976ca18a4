// The string constants that calls of intercepted functions give for arguments declared secret (functions/
// declaration.ts): an API key written out, positional or named, under any casts or COLLATE, a request's headers or query
// parameters (pgai's extra_headers), a config that holds credentials (a model's, pgai's client_config), and a
// server's URL that carries them (pgai's base_url => 'http://user:password@host'). The proxy holds them back from the server (src/intercept/literal-secrets.ts), whose log and
// pg_stat_activity would keep the statement's text. A secret argument computed from string constants that may be part
// of it is refused (src/sql/computed-secrets.ts); one computed from parameters, columns or settings shows in no text,
// unless its columns are of a subquery, CTE or VALUES list the statement writes (src/sql/derived-columns.ts): those
// are judged by what they stand for, and refused when that writes the secret out (the constant is not in the call,
// where the proxy could put a reference in its place without changing what else the statement reads).
// A constant given for an argument declared SQL (pg_llm_estimate's sql) is a statement of its own, parsed in turn:
// the secrets of its calls are held back the same way, in a constant written anew (and its key settings and code are
// refused: sql-arguments.ts); SQL computed from string constants, which the proxy cannot read, is refused. When the
// parser refuses it and it may hold a secret, the proxy answers the syntax error itself, pointed at where it stands in
// the query string.

import type { ArgumentDeclaration } from '../../functions/declaration.js';
import { qualifiedName } from '../../functions/registry.js';
import { PgError } from '../../proxy/pg-error.js';
import { credentialsIn, holdsCredentials } from '../crypto/config-secrets.js';
import type { HeldSpan } from './api-key-statements.js';
import { declaredArguments } from './declared-arguments.js';
import { parseTask } from './parse-task.js';
import { scanSync, TooComplexToParse } from './parser.js';
import { refuseComputedSecret, uncast, writesOutSecret, writtenString } from './computed-secrets.js';
import { withDerivedColumns } from './derived-columns.js';
import { eachCall, type Scope } from './statement-scopes.js';
import { codePoints, parseStatementsNow } from './parse.js';
import { heldSyntaxError, type HeldSyntaxError } from './secret-syntax-errors.js';
import { writtenOffset } from './written-constants.js';

type Node = Record<string, any>;

/** A secret literal, and whether its argument is jsonb (the server must read its reference as JSON). */
export interface SecretLiteral extends HeldSpan {
  json: boolean;
  /** The function (schema.name) whose call writes it out: the only one in whose calls its reference stands for it. */
  writtenFor: string;
  /** A constant given for an argument declared SQL: the secret literals of its statements, located in `value`. */
  statements?: SecretLiteral[];
}

/**
 * SQL given for an argument declared SQL that the parser refuses and that may hold a secret: the error the proxy
 * answers in the server's place, its position in the query string.
 */
export class SecretSyntaxError extends Error {
  constructor(readonly held: HeldSyntaxError) {
    super(held.message);
  }
}

/** A constant found in a call; `sql`, for one given for an argument declared SQL, names that argument. */
type Found = { value: string; start: number; json: boolean; writtenFor: string; sql?: string };

/** The secret literals in a parsed statement (locations count bytes of `sql`, the query string parsed), in order. */
export function secretLiterals(statement: unknown, sql: string): SecretLiteral[] {
  const found: Found[] = [];
  eachCall(statement, (call, scope) => found.push(...literalsOfCall(call, scope)));
  if (found.length === 0) return [];
  const tokens = scanSync(sql).tokens;
  return found
    .flatMap(({ value, start, json, writtenFor, sql: argument }): SecretLiteral[] => {
      const token = tokens.find((candidate) => candidate.start === start)!;
      const literal = { value, start, end: token.end, json, writtenFor };
      if (argument === undefined) {
        refuseUnicodeEscapes(token.text, 'a secret argument');
        return [literal];
      }
      const statements = statementLiterals(value, argument, (position) => codePoints(Buffer.from(sql, 'utf8').toString('utf8', 0, start)) + writtenOffset(token.text, position - 1) + 1);
      if (statements.length === 0) return [];
      refuseUnicodeEscapes(token.text, `${argument}, when it writes out a secret,`);
      return [{ ...literal, statements }];
    })
    .sort((a, b) => a.start - b.start);
}

/**
 * The secret literals of SQL a function runs for its caller (pg_llm_estimate's); none when the parser refuses it (the
 * function says why), or the message of the syntax error the proxy answers for SQL given in it as a constant.
 */
export const STATEMENT_SECRETS = parseTask(import.meta.url, 'statementSecrets', statementSecrets);

export function statementSecrets(sql: string): { literals: SecretLiteral[] } | { refused: string } {
  let statements: ReturnType<typeof parseStatementsNow>;
  try {
    statements = parseStatementsNow(sql);
  } catch (error) {
    if (error instanceof TooComplexToParse) throw error;
    return { literals: [] };
  }
  try {
    return { literals: statements.flatMap(({ node }) => secretLiterals(node, sql)) };
  } catch (error) {
    if (error instanceof SecretSyntaxError) return { refused: error.message };
    throw error;
  }
}

/** The parse tree keeps a U&'…' constant's escapes undecoded: its value is not the text it spells. */
function refuseUnicodeEscapes(token: string, what: string): void {
  if (!/^u&/i.test(token)) return;
  throw new PgError('0A000', `${what} cannot be written as a U& string constant`, {
    hint: "Write it as '…' or E'…' (the proxy keeps a secret written out in a call, the server gets only a reference to it), or pass it as a parameter.",
  });
}

/**
 * The secret literals of the statements in `text`, given for `argument`; `inQuery` moves a position in `text` to
 * the query string. Text the parser refuses has none; when it may hold one, the syntax error is the proxy's to answer.
 */
function statementLiterals(text: string, argument: string, inQuery: (position: number) => number): SecretLiteral[] {
  let statements: ReturnType<typeof parseStatementsNow>;
  try {
    statements = parseStatementsNow(text);
  } catch (error) {
    if (error instanceof TooComplexToParse) throw error;
    const held = heldSyntaxError(text, error);
    if (held) throw new SecretSyntaxError({ message: `${argument} is not valid SQL: ${held.message}`, position: inQuery(held.position) });
    return [];
  }
  try {
    return secretLiterals(statements.map(({ node }) => node), text);
  } catch (error) {
    if (error instanceof SecretSyntaxError) throw new SecretSyntaxError({ ...error.held, position: inQuery(error.held.position) });
    throw error;
  }
}

/** A secret argument given other than as one string constant, as what the columns it reads stand for (derived-columns.ts). */
export interface ReadSecret {
  /** "the api_key argument of pg_llm_add_model" */
  argument: string;
  expression: Node;
}

/**
 * The secret arguments of a parsed statement's calls that are not one string constant, each with the columns it reads
 * of relations the statement writes followed: code (code-bodies.ts) judges what else they read, its variables.
 */
export function readSecrets(statement: unknown): ReadSecret[] {
  const read: ReadSecret[] = [];
  eachCall(statement, (call, scope) => {
    const { declarations, arguments: found } = declaredArguments(call);
    for (const { declared, expression } of found) {
      if (!declared?.secret || stringConstant(expression)) continue;
      const argument = `the ${declared.name} argument of ${declarations[0]!.name}`;
      read.push({ argument, expression: withDerivedColumns(expression, scope, argument) });
    }
  });
  return read;
}

function literalsOfCall(call: Node, scope: Scope | undefined): Found[] {
  const { declarations, arguments: found } = declaredArguments(call);
  if (declarations.length === 0) return [];
  const writtenFor = qualifiedName(declarations[0]!);
  const literals: Found[] = [];
  found.forEach(({ declared, expression }) => {
    if (!declared?.secret && !declared?.sql) return;
    const constant = stringConstant(expression);
    if (!constant) {
      if (declared.secret) refuseWrittenOutSecret(expression, scope, declared, declarations[0]!.name);
      else refuseComputedSql(expression, scope, `the ${declared.name} argument of ${declarations[0]!.name}`);
      return;
    }
    if (declared.sql) literals.push({ ...constant, json: false, writtenFor, sql: `the ${declared.name} argument of ${declarations[0]!.name}` });
    else if (isSecret(declared.secret!, constant.value)) literals.push({ ...constant, json: declared.type === 'jsonb', writtenFor });
  });
  return literals;
}

/**
 * Refuses a secret argument other than one string constant that writes the secret out: computed from constants in
 * the call, or reading a column that the statement writes out itself (a subquery's, a CTE's, a VALUES list's, the row
 * it inserts or updates read back in RETURNING or as EXCLUDED).
 */
function refuseWrittenOutSecret(expression: Node, scope: Scope | undefined, declared: ArgumentDeclaration, functionName: string): void {
  refuseComputedSecret(expression, declared, functionName);
  const argument = `the ${declared.name} argument of ${functionName}`;
  const followed = withDerivedColumns(expression, scope, argument);
  if (followed === expression) return;
  const constant = writtenString(uncast(followed));
  if (constant !== undefined ? !isSecret(declared.secret!, constant) : !writesOutSecret(followed, declared.secret!, declared.name)) return;
  throw new PgError('0A000', `${argument} reads a column that the statement itself writes out in string constants (in a subquery, CTE, VALUES list or the row it inserts or updates)`, {
    hint: "Pass it as a parameter, or write it in the call itself as a single string constant: the proxy holds back a secret written in the call, not one written elsewhere in the statement, which the server's log would keep.",
  });
}

/**
 * Refuses SQL for an argument declared SQL that the statement computes from string constants ('SET ai.x = ''' ||
 * '…''', a subquery's column): the proxy reads only SQL written as one constant, and the server gets the pieces as
 * written, whatever statements they make.
 */
function refuseComputedSql(expression: Node, scope: Scope | undefined, argument: string): void {
  if (!writesOutSecret(withDerivedColumns(expression, scope, argument), 'key')) return;
  throw new PgError('0A000', `${argument} is computed from string constants written in the statement`, {
    hint: 'Write the SQL as one string constant (the proxy reads its statements, and holds back the secrets of their calls), or pass it as a parameter.',
  });
}

/** A non-empty string constant, under any casts and COLLATE clauses. */
function stringConstant(expression: Node): { value: string; start: number } | undefined {
  const node = uncast(expression);
  const value = writtenString(node);
  return value === undefined ? undefined : { value, start: node.A_Const.location as number };
}

/** Whether a value given for an argument declared secret of this kind is one: a config or URL only with credentials. */
export function isSecret(kind: 'key' | 'config' | 'url', value: string): boolean {
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
