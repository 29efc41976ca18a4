// The setting that code kept as text (code-bodies.ts) names where SQL names one: after SET, RESET or SHOW (a
// function's SET clause among them), and as set_config's or current_setting's first argument written out. The
// parser reads the name, so that every spelling of it counts: "AI".x, U&"\0061i".x, ai.U&"…" UESCAPE '!',
// E'\x61i.x', 'a' || 'i.x'.

import { argumentsAt, closingParenthesis, isName, isSqlString, stringContent, type Token } from './code-tokens.js';
import { constantText, type Expression } from './constant-text.js';
import { parseSync } from './parser.js';

/** Code as the scanner cut it, and its text between two byte offsets. */
export interface ScannedText {
  tokens: Token[];
  text: (start: number, end: number) => string;
}

/**
 * The setting that SET, RESET or SHOW names from token `at` on (LOCAL or SESSION first), as the parser reads a
 * name: "AI".x, U&"\0061i".x and ai.U&"…" UESCAPE '!' are ai.x.
 */
export function settingNamedAt({ tokens, text }: ScannedText, at: number): string | undefined {
  if (/^(?:local|session)$/i.test(tokens[at]?.text ?? '')) at++;
  let last: number | undefined;
  for (let part = at; isName(tokens[part]); part = last + 2) {
    last = /^uescape$/i.test(tokens[part + 1]?.text ?? '') && isSqlString(tokens[part + 2]) ? part + 2 : part;
    if (tokens[last + 1]?.text !== '.') break;
  }
  if (last === undefined) return undefined;
  try {
    const tree = parseSync(`SHOW ${text(tokens[at]!.start, tokens[last]!.end)}`) as { stmts?: Array<{ stmt: { VariableShowStmt?: { name?: string } } }> };
    return tree.stmts?.[0]?.stmt.VariableShowStmt?.name;
  } catch {
    return undefined;
  }
}

/** The setting name a set_config or current_setting call (its name at `start`, its parenthesis at `open`) writes out. */
export function settingArgument({ tokens, text }: ScannedText, start: number, open: number): string | undefined {
  const [first] = argumentsAt(tokens, open);
  if (first?.length === 1 && isSqlString(first[0])) return stringContent(first[0]!);
  // Written in pieces, cast or given a collation ('a' || 'i.x', 'ai.x'::text): the parser reads the constant.
  const close = closingParenthesis(tokens, open);
  if (close === undefined) return undefined;
  try {
    const tree = parseSync(`SELECT ${text(tokens[start]!.start, tokens[close]!.end)}`) as { stmts?: Array<{ stmt: any }> };
    return constantText((tree.stmts?.[0]?.stmt.SelectStmt?.targetList?.[0]?.ResTarget?.val?.FuncCall?.args as Expression[] | undefined)?.[0]);
  } catch {
    return undefined;
  }
}
