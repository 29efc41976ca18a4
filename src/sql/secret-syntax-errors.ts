// A statement that calls an LLM function and that PostgreSQL's parser refuses: the proxy cannot find the secrets
// written out in it (src/sql/secret-literals.ts needs a parse tree), and the server, refusing it too, would log it
// whole (log_min_error_statement) with whatever key it holds. When such a statement holds a string constant given for
// a secret argument (found from the tokens alone), or one that looks like a key wherever it stands, the proxy answers
// the syntax error itself, PostgreSQL's words and position, and the server never gets the text. Any other statement
// the parser refuses goes to the server as it is, for the server's own error. A string constant given for an argument
// declared SQL (pg_llm_estimate's sql) is SQL of its own, which may hold a secret the same ways.

import { scanSync } from './parser.js';
import { functionsCalled } from '../../functions/registry.js';
import { PgError } from '../../proxy/pg-error.js';
import { looksLikeSecret } from '../catalog/redaction.js';
import { holdsCredentials } from '../crypto/config-secrets.js';

/** The syntax error the proxy answers in the server's place: the parser's message and its position (from 1). */
export interface HeldSyntaxError {
  message: string;
  position: number;
}

interface Token {
  text: string;
  tokenName: string;
}

/** A string constant's token: '…', E'…', N'…', $tag$…$tag$ (the scanner's SCONST), U&'…', B'…' or X'…'. */
function isString(token: Token): boolean {
  return token.tokenName === 'SCONST' || /^(?:[uU]&|[bBxX])'/.test(token.text);
}
const NAMED_ARGUMENT = new Set(['=>', ':=']);

/** The proxy's answer to such a syntax error: the parser's words for the client, none for the server (its log keeps them). */
export function secretSyntaxError(message: string, position?: number): PgError {
  return new PgError('42601', message, {
    ...(position === undefined ? {} : { position }),
    serverMessage: 'syntax error in a statement that calls an LLM function and may hold a secret (not sent to the server)',
  });
}

/** `error` is what the parser threw for `sql`; undefined when the server may have the statement. */
export function heldSyntaxError(sql: string, error: unknown): HeldSyntaxError | undefined {
  const details = (error as { sqlDetails?: { message?: string; cursorPosition?: number } }).sqlDetails;
  if (!details?.message) return undefined;
  const held = { message: details.message, position: (details.cursorPosition ?? 0) + 1 };
  return mayHoldSecret(sql) ? held : undefined;
}

/**
 * Whether text that calls an LLM function may hold a secret: a string constant at a secret argument, or in SQL
 * written out at an argument declared SQL (pg_llm_estimate's), or one of a key's shape anywhere.
 */
export function mayHoldSecret(sql: string): boolean {
  let tokens: Token[];
  try {
    tokens = scanSync(sql).tokens;
  } catch {
    // The scanner gives up on what PostgreSQL's lexer refuses (a quote left open: the rest of the text is the
    // constant, key and all, and the server's error would quote it): nothing can be told apart, so nothing is sent.
    return true;
  }
  const calls = tokens.flatMap((_, i) => (tokens[i + 1]?.text === '(' ? callAt(tokens, i) : []));
  if (calls.length === 0) return false;
  return calls.some((call) => secretArgumentWritten(tokens, call)) || tokens.some((token) => isString(token) && looksSecret(token.text));
}

/** The call of an intercepted function whose name ends at token `i`, the one before its '('. */
function callAt(tokens: Token[], i: number): Array<{ open: number; parts: string[] }> {
  const parts = [identifier(tokens[i]!)];
  if (tokens[i - 1]?.text === '.' && tokens[i - 2]) parts.unshift(identifier(tokens[i - 2]!));
  return functionsCalled(parts).length > 0 ? [{ open: i + 1, parts }] : [];
}

function identifier(token: Token): string {
  return token.text.startsWith('"') ? token.text.slice(1, -1).replace(/""/g, '"') : token.text.toLowerCase();
}

/**
 * Whether an argument of the call declared secret (by position or by name) holds a string constant, or one declared
 * SQL a constant whose SQL may hold a secret.
 */
function secretArgumentWritten(tokens: Token[], call: { open: number; parts: string[] }): boolean {
  const declarations = functionsCalled(call.parts);
  let depth = 0;
  let position = 0;
  let argument: Token[] = [];
  const secret = (): boolean => {
    const named = argument.length > 1 && NAMED_ARGUMENT.has(argument[1]!.text) ? identifier(argument[0]!) : undefined;
    const declared = declarations
      .map((declaration) => (named ? declaration.arguments.find((candidate) => candidate.name === named) : declaration.arguments[position]))
      .find((candidate) => candidate !== undefined);
    if (declared?.sql) return argument.some((token) => isString(token) && mayHoldSecret(constantBody(token.text)));
    return declared?.secret !== undefined && argument.some(isString);
  };
  for (const token of tokens.slice(call.open + 1)) {
    if (depth === 0 && (token.text === ',' || token.text === ')')) {
      if (secret()) return true;
      if (token.text === ')') return false;
      position++;
      argument = [];
      continue;
    }
    if (token.text === '(' || token.text === '[') depth++;
    if (token.text === ')' || token.text === ']') depth--;
    argument.push(token);
  }
  // The call is left open where the text ends: its last argument is as good as any.
  return secret();
}

/** A string constant's text between its quotes, its doubled quotes single (escapes left as written). */
function constantBody(text: string): string {
  return text.replace(/^[eEnN]?'|'$/g, '').replace(/''/g, "'").replace(/^\$[^$]*\$|\$[^$]*\$$/g, '');
}

/** A string constant's token that holds what looks like a key, or JSON with credentials in it. */
function looksSecret(text: string): boolean {
  if (looksLikeSecret(text)) return true;
  try {
    const json: unknown = JSON.parse(constantBody(text));
    return typeof json === 'object' && json !== null && holdsCredentials(json as Record<string, unknown>);
  } catch {
    return false;
  }
}
