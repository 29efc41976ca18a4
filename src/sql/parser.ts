// PostgreSQL's parser and scanner (libpg-query), given a text they read in time that grows with its length only.
// Their lexer (scan.l) matches a run of operator characters whole before it takes a token from its start, then
// matches the rest again for the next token: a run that makes many tokens is read over and over. Comments nested in
// a comment (/*/*/*…*/*/*/) are such a run, each /* matched with all that follows it; so are +-+-+-… (a chain of
// unary operators) and /**/ between operators. 16 kB of them held the event loop up to 1.9 s, and a big text the
// parser's shared thread for minutes.
// So the parser gets each block comment with the operator characters inside it (the nested comments' delimiters
// among them) as spaces: still a comment, of the same bytes and characters, so that locations and error positions
// stay where they were. A text whose code has a longer run of operator characters than MAX_OPERATOR_RUN is refused.
// The text itself (what reaches the server, what the proxy cuts statements and constants from) stays as it is.

import { parsePlPgSQLSync as parsePlPgSqlText, parseSync as parseText, scanSync as scanText } from 'libpg-query';
import { PgError } from '../../proxy/pg-error.js';
import { type LexicalObserver, IdentifierScan } from './identifier-scan.js';
import { IdentifierSet } from './identifiers.js';

/**
 * The longest run of operator characters the proxy parses. PostgreSQL takes an operator of up to 63 characters; a
 * longer run is several operators. Measured: 16 kB of runs of 128 (+++…1) parse in about 25 ms, as dense expressions
 * do, where one run of 16 kB took 1.2 s.
 */
export const MAX_OPERATOR_RUN = 128;

/** Per byte: 1 for PostgreSQL's operator characters (scan.l's op_chars). */
const OPERATOR = new Uint8Array(256);
for (const character of '~!@#^&|`?+-*/%<>=') OPERATOR[character.charCodeAt(0)] = 1;
const SPACE = 0x20;
const NO_NAMES = new IdentifierSet([]);

export function parseSync(sql: string): ReturnType<typeof parseText> {
  return withinStack(() => parseText(parserInput(sql)));
}

/** PL/pgSQL's own parse of a CREATE FUNCTION (or PROCEDURE) in that language: its variables and the SQL it runs. */
export function parsePlPgSqlSync(sql: string): ReturnType<typeof parsePlPgSqlText> {
  return withinStack(() => parsePlPgSqlText(parserInput(sql)));
}

export function scanSync(sql: string): ReturnType<typeof scanText> {
  return scanText(parserInput(sql));
}

/** The text as the parser gets it: its block comments without operator characters inside (see above). */
export function parserInput(sql: string): string {
  if (!sql.includes('/*') && longestRawRun(sql) <= MAX_OPERATOR_RUN) return sql;
  const bytes = Buffer.from(sql, 'utf8');
  const lexemes = new Lexemes(bytes);
  new IdentifierScan(NO_NAMES, true, lexemes).push(bytes, true);
  if (lexemes.longestRun > MAX_OPERATOR_RUN) throw TooComplexToParse.operatorRun(lexemes.longestRun);
  let blanked = false;
  for (const { start, end, closed } of lexemes.comments) {
    for (let i = start + 2; i < (closed ? end - 2 : end); i++) {
      if (OPERATOR[bytes[i]!] === 1) {
        bytes[i] = SPACE;
        blanked = true;
      }
    }
  }
  return blanked ? bytes.toString('utf8') : sql;
}

/** A text the proxy does not read (54001), where PostgreSQL might: the callers that take other errors as syntax errors pass it on. */
export class TooComplexToParse extends PgError {
  private constructor(message: string, hint: string) {
    super('54001', message, { hint });
  }

  static operatorRun(run: number): TooComplexToParse {
    return new TooComplexToParse(
      `statement is too complex for the proxy to parse: ${run} operator characters in a row (the limit is ${MAX_OPERATOR_RUN})`,
      "Put spaces between operators: PostgreSQL's lexer reads a run of operator characters anew for each operator it takes from it.",
    );
  }

  /** Nested deeper than the proxy's walks of a statement's tree go: PostgreSQL's own limit is its max_stack_depth. */
  static nestedTooDeeply(): TooComplexToParse {
    return new TooComplexToParse('the statement is nested too deeply for the proxy to read', 'Nest fewer subqueries, expressions or parentheses in one statement.');
  }
}

/** `read`'s result; a JavaScript stack overflow in it (a walk of a deeply nested tree) refused as TooComplexToParse. */
export function withinStack<T>(read: () => T): T {
  try {
    return read();
  } catch (error) {
    if (error instanceof RangeError && error.message.includes('call stack')) throw TooComplexToParse.nestedTooDeeply();
    throw error;
  }
}

/** The longest run of operator characters anywhere in the text, literals and comments too: over the limit, a scan tells. */
function longestRawRun(sql: string): number {
  let run = 0;
  let longest = 0;
  for (let i = 0; i < sql.length; i++) {
    const unit = sql.charCodeAt(i);
    if (unit < 0x80 && OPERATOR[unit] === 1) longest = Math.max(longest, ++run);
    else run = 0;
  }
  return longest;
}

/**
 * The block comments of a text, and its longest run of operator characters as the lexer reads them once the comments
 * are blanked: a comment's /* ends the run before it, and only an empty one (/**\/) carries it on after.
 */
class Lexemes implements LexicalObserver {
  readonly comments: Array<{ start: number; end: number; closed: boolean }> = [];
  longestRun = 0;
  private run = 0;
  /** Where the run ends (-1: no run goes on). */
  private runEnd = -1;

  constructor(private readonly bytes: Buffer) {}

  code(start: number, end: number): void {
    if (end - start !== 1 || OPERATOR[this.bytes[start]!] !== 1) return;
    this.extend(start, end, 1);
  }

  blockComment(start: number, end: number, closed: boolean): void {
    this.comments.push({ start, end, closed });
    this.extend(start, start + 2, 2);
    if (closed && end - start === 4) this.extend(start + 2, end, 2);
    else this.runEnd = -1;
  }

  private extend(start: number, end: number, length: number): void {
    this.run = start === this.runEnd ? this.run + length : length;
    this.runEnd = end;
    this.longestRun = Math.max(this.longestRun, this.run);
  }
}
