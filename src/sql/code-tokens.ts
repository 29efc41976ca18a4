// Code kept as text (a DO block, a function's body: code-bodies.ts) as PostgreSQL's scanner cuts it: its names,
// strings and calls, read without parsing the whole, which may be PL/pgSQL or another language.

import { parseSync } from './parser.js';

/** A token of PostgreSQL's scanner; `start` and `end` count bytes. */
export interface Token {
  start: number;
  end: number;
  text: string;
  tokenName: string;
}

/** A string SQL reads: '…', E'…', U&'…', $tag$…$tag$. */
export function isSqlString(token: Token | undefined): boolean {
  return token?.tokenName === 'SCONST';
}

/** A name: a word (a keyword too), a quoted identifier or a U&"…" one. */
export function isName(token: Token | undefined): boolean {
  return token !== undefined && !isSqlString(token) && /^(?:[a-z_\u0080-\uffff]|")/i.test(token.text);
}

/** A name as PostgreSQL folds it: lower case, or as quoted. */
export function nameOf(token: Token): string {
  return token.text.startsWith('"') ? token.text.slice(1, -1).replaceAll('""', '"') : token.text.toLowerCase();
}

/** The text of a string, as SQL reads it; as written when SQL does not. */
export function stringContent(token: Token): string {
  if (token.text.startsWith('"')) return nameOf(token);
  // A plain '…' has only doubled quotes to undo (standard_conforming_strings, as the parser reads it): no parse.
  if (token.text.startsWith("'")) return token.text.slice(1, -1).replaceAll("''", "'");
  try {
    const tree = parseSync(`SELECT ${token.text}`) as { stmts: Array<{ stmt: any }> };
    const value: unknown = tree.stmts[0]?.stmt.SelectStmt?.targetList?.[0]?.ResTarget?.val?.A_Const?.sval?.sval;
    if (typeof value === 'string') return value;
  } catch {
    // Read as written below.
  }
  return token.text;
}

/** The index of the token that closes the parenthesis at `open`. */
export function closingParenthesis(tokens: Token[], open: number): number | undefined {
  let depth = 0;
  for (let at = open; at < tokens.length; at++) {
    if (tokens[at]!.text === '(') depth++;
    else if (tokens[at]!.text === ')' && --depth === 0) return at;
  }
  return undefined;
}

/** The tokens of each argument of the call whose parenthesis opens at token `open`. */
export function argumentsAt(tokens: Token[], open: number): Token[][] {
  const found: Token[][] = [[]];
  for (let at = open + 1, depth = 0; at < tokens.length; at++) {
    const token = tokens[at]!;
    if (token.text === ')' && depth === 0) break;
    if (token.text === ',' && depth === 0) {
      found.push([]);
      continue;
    }
    if (token.text === '(') depth++;
    else if (token.text === ')') depth--;
    found.at(-1)!.push(token);
  }
  return found;
}
