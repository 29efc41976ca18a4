// The text of a statement that may be a transaction statement (COMMIT, ROLLBACK, SAVEPOINT…), cut down to what tells
// which: its words, without the comments, spaces and `;` around them, each name or string as a short stand-in (which
// statement it is depends on its keywords only). Review K3: a check of the text's first bytes let `/** c **/
// SAVEPOINT a`, a nested comment, a leading `;`, a `--` comment that a carriage return ends, or a comment longer than
// the bytes looked at, hide such a statement from the proxy, which then let the server run it in the proxy's block.

import { CARRIAGE_RETURN, DASH, NEWLINE, SLASH, STAR } from './identifier-scan.js';

const SEMICOLON = 0x3b;
/** The words a transaction statement starts with. */
const LEADS = /^(?:savepoint|release|rollback|abort|commit|end|prepare)(?![\w$\u0080-\uffff])/i;
/** Longer words are no keyword: names. */
const LONGEST_KEYWORD = 16;
/**
 * A quoted name (U&"…" with its UESCAPE too), a string ('…', E'…', N'…', U&'…' with its UESCAPE, dollar-quoted), or
 * a word, each where it starts: the prefixed forms before words, whose first letter they start with (review L3).
 */
const TOKEN =
  /(?<name>(?:u&)?"(?:[^"]|"")*"(?:\s*uescape\s*'[^']*')?)|(?<string>u&'(?:[^']|'')*'(?:\s*uescape\s*'[^']*')?|e'(?:[^'\\]|\\[\s\S]|'')*'|n?'(?:[^']|'')*'|\$(?<tag>[a-z_\u0080-\uffff][\w\u0080-\uffff]*)?\$[\s\S]*?\$\k<tag>\$)|(?<word>[a-z_\u0080-\uffff][\w$\u0080-\uffff]*)/iy;

/** The character code at a position, or undefined past the end: of a string, or of a message's bytes read as Latin-1. */
export type CodeAt = (index: number) => number | undefined;

/**
 * Where the first token is from `start` on, past white space, `;` and comments (nested ones, and `--` ones, which a
 * newline or a carriage return ends, as PostgreSQL's scanner has them); `end` when there is none before it.
 */
export function firstTokenAt(codeAt: CodeAt, start: number, end: number): number {
  let at = start;
  while (at < end) {
    const code = codeAt(at)!;
    if (code === SEMICOLON || (code >= 0x09 && code <= 0x0d) || code === 0x20) at++;
    else if (code === DASH && codeAt(at + 1) === DASH) {
      while (at < end && codeAt(at) !== NEWLINE && codeAt(at) !== CARRIAGE_RETURN) at++;
    } else if (code === SLASH && codeAt(at + 1) === STAR) {
      let depth = 0;
      do {
        if (codeAt(at) === SLASH && codeAt(at + 1) === STAR) (depth++, (at += 2));
        else if (codeAt(at) === STAR && codeAt(at + 1) === SLASH) (depth--, (at += 2));
        else at++;
      } while (depth > 0 && at < end);
    } else return at;
  }
  return end;
}

/** Whether text that starts at its first token starts as a transaction statement does. */
export function leadsAsTransaction(text: string): boolean {
  return LEADS.test(text);
}

/**
 * The text's words one space apart, each name and string as a short stand-in; undefined when it holds anything else
 * (an operator, a number, a parenthesis: no transaction statement does).
 */
export function transactionWords(text: string): string | undefined {
  const codeAt: CodeAt = (index) => (index < text.length ? text.charCodeAt(index) : undefined);
  const words: string[] = [];
  for (let at = firstTokenAt(codeAt, 0, text.length); at < text.length; at = firstTokenAt(codeAt, TOKEN.lastIndex, text.length)) {
    TOKEN.lastIndex = at;
    const groups = TOKEN.exec(text)?.groups;
    if (!groups) return undefined;
    const { name, word } = groups;
    words.push(name !== undefined ? '"name"' : word === undefined ? "'text'" : word.length > LONGEST_KEYWORD ? 'name' : word);
  }
  return words.join(' ');
}
