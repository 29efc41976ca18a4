// Code PostgreSQL keeps or runs as text: a DO block's body, and a function's or procedure's `AS '…'` (not a BEGIN
// ATOMIC body, which the parser reads, so that its settings and calls are found as any statement's). The proxy runs
// no call and holds no key written there: a DO block's call of pg_llm_add_model fails in the database (calls run only
// through the proxy), and the server logs the block with its error, key and all; a set_config in it leaves the key in
// the setting in clear; a function's body keeps it in pg_proc.prosrc, which every role may read. So such code is
// refused before the server gets it when it names one of pgai's key settings or writes out a secret argument of a
// call, as it is when it names pg_llm.master_key (master-key-statements.ts). Names are looked for in the code as
// written, in the strings it holds (EXECUTE '…', a language's own strings) too; a name the code computes
// (format('ai.%s_api_key', …)) is not.

import type { FunctionDeclaration } from '../../functions/declaration.js';
import { FUNCTIONS, functionsCalled } from '../../functions/registry.js';
import { PgError } from '../../proxy/pg-error.js';
import { IdentifierSet } from './identifiers.js';
import { isApiKeySetting } from './api-key-statements.js';
import { parseSync, scanSync } from './parser.js';
import { secretLiterals } from './secret-literals.js';

/** The tokens of the statements that hold such code: DO, CREATE FUNCTION and CREATE PROCEDURE. */
export const CODE_BODY_TOKENS = new IdentifierSet(['do', 'function', 'procedure']);

/** A DO block's or a function's body (`AS '…'`), which the parser leaves as text. */
export interface DefElem {
  defname?: string;
  arg?: { String?: { sval: string }; List?: { items?: Array<{ String?: { sval: string } }> } };
}

/** The code of an option of a DO block or a function, if it is the `as` option. */
export function codeBody(element: DefElem): string | undefined {
  if (element.defname !== 'as') return undefined;
  return element.arg?.String?.sval ?? element.arg?.List?.items?.map((item) => item.String?.sval ?? '').join('\n');
}

/**
 * A setting of pgai's named in code: after SET, quoted in code that sets or reads settings (set_config,
 * current_setting, SET), or, written any way, one whose name says key (ai.openai_api_key, ai.team_key). Not a
 * function of schema ai (ai.openai_embed(…)), nor one of its tables (ai.vectorizer, 'ai.vectorizer'::regclass).
 */
const SETTING_NAME = /(set\s+(?:local\s+|session\s+)?|')?\bai"?\s*\.\s*"?(\w+)("?\s*\()?/gi;

/** Code that sets or reads a setting by a name it quotes. */
const SETTING_CODE = /set_config|current_setting|\bset\b/i;

/** Nested strings read as code at most this deep (EXECUTE of EXECUTE …); deeper, a mention is refused unread. */
const MAX_DEPTH = 8;

/** The functions with an argument that may be a secret, or SQL whose calls may write one out. */
let takers: { names: Set<string>; mention: RegExp } | undefined;

function secretTakers(): { names: Set<string>; mention: RegExp } {
  if (!takers) {
    const names = new Set(FUNCTIONS.filter(takesSecret).map((declaration) => declaration.name.toLowerCase()));
    takers = { names, mention: new RegExp(`\\b(?:${[...names].join('|')})\\b`, 'i') };
  }
  return takers;
}

function takesSecret(declaration: FunctionDeclaration): boolean {
  return declaration.arguments.some((argument) => argument.secret !== undefined || argument.sql);
}

/** Throws a PgError for a DO block, CREATE FUNCTION or CREATE PROCEDURE whose code would hand the server a secret. */
export function refuseSecretsInCode(statement: Record<string, unknown>): void {
  const { code, what } = codeOf(statement) ?? {};
  if (code === undefined) return;
  const found = keySettingIn(code) ?? secretCallIn(code, 0);
  if (found === undefined) return;
  throw new PgError('0A000', `${what} cannot ${found}`, {
    hint:
      'The server keeps such code as written (the server log, pg_proc), and a key in it. Give keys to the proxy instead: ' +
      "SET the key setting in the session (SET ai.openai_api_key = '…'), use the proxy's own keys (its environment, " +
      '--default-model), or call a model registered through the proxy (pg_llm_add_model); not in code stored or run in the database.',
  });
}

function codeOf(statement: Record<string, any>): { code: string; what: string } | undefined {
  const block = statement.DoStmt;
  const routine = statement.CreateFunctionStmt;
  const options = (block?.args ?? routine?.options) as Array<{ DefElem?: DefElem }> | undefined;
  const code = options?.map((option) => (option.DefElem ? codeBody(option.DefElem) : undefined)).find((body) => body !== undefined);
  if (code === undefined) return undefined;
  return { code, what: block ? 'a DO block' : routine.is_procedure ? "a procedure's body" : "a function's body" };
}

/** What names a key setting in the code, if anything does. */
function keySettingIn(code: string): string | undefined {
  for (const [, before, name, call] of code.matchAll(SETTING_NAME)) {
    const setting = `ai.${name!.toLowerCase()}`;
    if (call || !isApiKeySetting(setting)) continue;
    const named = before === "'" ? SETTING_CODE.test(code) : before !== undefined || /key/i.test(name!);
    if (named) return `name the key setting ${setting}`;
  }
  return undefined;
}

interface Token {
  start: number;
  end: number;
  text: string;
  tokenName: string;
}

/** What writes out a secret argument in the code's calls, or in code held in its strings, if anything does. */
function secretCallIn(code: string, depth: number): string | undefined {
  const { names, mention } = secretTakers();
  if (!mention.test(code)) return undefined;
  if (depth >= MAX_DEPTH) return 'hold calls of functions that take secrets nested this deep';
  let tokens: Token[];
  try {
    tokens = scanSync(code).tokens as Token[];
  } catch {
    return `call a function that takes secrets (${code.match(mention)![0]}) in code the proxy cannot read`;
  }
  const bytes = Buffer.from(code, 'utf8');
  const text = (start: number, end: number) => bytes.toString('utf8', start, end);
  for (let at = 0; at < tokens.length; at++) {
    const token = tokens[at]!;
    if (isString(token) && tokens[at + 1]?.text !== '(' && tokens[at + 1]?.text !== '.') {
      const found = mention.test(token.text) ? secretCallIn(stringContent(token), depth + 1) : undefined;
      if (found) return found;
      continue;
    }
    const parts = [nameOf(token)];
    let last = at;
    while (tokens[last + 1]?.text === '.' && tokens[last + 2] && isName(tokens[last + 2]!)) {
      parts.push(nameOf(tokens[last + 2]!));
      last += 2;
    }
    if (!isName(token) || tokens[last + 1]?.text !== '(' || !names.has(parts.at(-1)!.toLowerCase())) continue;
    const declarations = functionsCalled(parts);
    if (!declarations.some(takesSecret)) continue;
    const close = closingParenthesis(tokens, last + 1);
    const call = text(token.start, close === undefined ? bytes.length : tokens[close]!.end);
    if (writesSecret(call)) return `write out a secret argument of ${declarations[0]!.name}`;
  }
  return undefined;
}

/** Whether a call (as text) gives a secret argument a string constant, or cannot be read to tell. */
function writesSecret(call: string): boolean {
  const sql = `SELECT ${call}`;
  try {
    const tree = parseSync(sql) as { stmts?: Array<{ stmt: unknown }> };
    return secretLiterals(tree.stmts?.map(({ stmt }) => stmt), sql).length > 0;
  } catch {
    // Unreadable (cut short, a language's own syntax), or a secret computed from constants (computed-secrets.ts).
    return true;
  }
}

/** The index of the token that closes the parenthesis at `open`. */
function closingParenthesis(tokens: Token[], open: number): number | undefined {
  let depth = 0;
  for (let at = open; at < tokens.length; at++) {
    if (tokens[at]!.text === '(') depth++;
    else if (tokens[at]!.text === ')' && --depth === 0) return at;
  }
  return undefined;
}

/** A string the code holds: SQL's ('…', E'…', $tag$…$tag$), or a quoted identifier, which is another language's ("…" in PL/Python). */
function isString(token: Token): boolean {
  return token.tokenName === 'SCONST' || token.text.startsWith('"');
}

function isName(token: Token): boolean {
  return token.tokenName !== 'SCONST' && /^(?:[a-z_\u0080-\uffff]|")/i.test(token.text);
}

function nameOf(token: Token): string {
  return token.text.startsWith('"') ? token.text.slice(1, -1).replaceAll('""', '"') : token.text.toLowerCase();
}

/** The text of such a string, as SQL reads it; as written when SQL does not. */
function stringContent(token: Token): string {
  if (token.text.startsWith('"')) return nameOf(token);
  try {
    const tree = parseSync(`SELECT ${token.text}`) as { stmts: Array<{ stmt: any }> };
    const value: unknown = tree.stmts[0]?.stmt.SelectStmt?.targetList?.[0]?.ResTarget?.val?.A_Const?.sval?.sval;
    if (typeof value === 'string') return value;
  } catch {
    // Read as written below.
  }
  return token.text;
}
