// The SQL that code kept as text (a DO block, a function's body: code-bodies.ts) builds and runs from its strings:
// PL/pgSQL's EXECUTE of strings joined with ||, or of format(), whose format string gets its arguments put in. Such
// a string is SQL the server runs even when it is a piece the parser cannot read alone; any other string, a format()
// that builds a message among them, is SQL only when the parser reads it whole. What the code computes (a variable, quote_literal(k)) stands in as NULL: it writes
// nothing out.

import { argumentsAt, isSqlString, stringContent, type Token } from './code-tokens.js';

const COMPUTED = ' NULL ';

/** The SQL an EXECUTE whose expression starts at token `at` runs: its strings joined, what it computes as NULL. */
export function executedText(tokens: Token[], at: number): string {
  let text = '';
  let operand: Token[] = [];
  const endOperand = () => {
    const string = isSqlString(operand[0]) && (operand.length === 1 || operand[1]!.text === '::');
    const formatted = /^format$/i.test(operand[0]?.text ?? '') && operand[1]?.text === '(' ? formattedText(operand, 1) : undefined;
    text += string ? stringContent(operand[0]!) : (formatted ?? (operand.length > 0 ? COMPUTED : ''));
    operand = [];
  };
  for (let depth = 0; at < tokens.length; at++) {
    const token = tokens[at]!;
    if (depth === 0 && (token.text === ';' || /^(?:into|using)$/i.test(token.text))) break;
    if (depth === 0 && token.text === '||') {
      endOperand();
      continue;
    }
    if (token.text === '(') depth++;
    else if (token.text === ')' && --depth < 0) break;
    operand.push(token);
  }
  endOperand();
  return text;
}

/**
 * The SQL a format() call whose parenthesis opens at token `open` builds: its format string with each argument put
 * in as %s, %I and %L put it (quote_ident always quoting), a computed one as NULL. Undefined when the format string
 * is computed.
 */
export function formattedText(tokens: Token[], open: number): string | undefined {
  const [format, ...values] = argumentsAt(tokens, open).map((argument) => (argument.length === 1 && isSqlString(argument[0]) ? stringContent(argument[0]!) : undefined));
  if (format === undefined) return undefined;
  let next = 0;
  return format.replace(/%(?:(\d+)\$)?-?(?:\d+|\*)?([sIL%])/g, (_, position: string | undefined, kind: string) => {
    if (kind === '%') return '%';
    const index = position ? Number(position) - 1 : next;
    next = index + 1;
    const value = values[index];
    if (value === undefined) return COMPUTED;
    if (kind === 'L') return `'${value.replaceAll("'", "''")}'`;
    return kind === 'I' ? `"${value.replaceAll('"', '""')}"` : value;
  });
}
