// Whether SQL text names one of a few identifiers as a token of its own, by PostgreSQL's lexical rules (scan.l):
// not inside a string literal ('…', E'…', U&'…', $tag$…$tag$) or a comment (-- and nested /* */). A quoted
// identifier ("…", U&"…") is an identifier too, matched case-sensitively as PostgreSQL does. It runs over the raw
// bytes, with native searches for the ends of strings and comments, so a statement's data cost next to nothing.
//
// The proxy does not know the session's standard_conforming_strings: with a backslash in the text, a miss is
// confirmed by reading '…' the other way too (backslash escapes), so a name counts when either reading sees it.

const QUOTE = 0x27;
const DOUBLE_QUOTE = 0x22;
const BACKSLASH = 0x5c;
const DOLLAR = 0x24;
const DASH = 0x2d;
const SLASH = 0x2f;
const STAR = 0x2a;
const AMPERSAND = 0x26;
const NEWLINE = 0x0a;
const CARRIAGE_RETURN = 0x0d;

/** Identifiers to look for, lower-case; matched unquoted in any case, quoted exactly. */
export class IdentifierSet {
  private readonly names: ReadonlySet<string>;
  private readonly lengths: ReadonlySet<number>;
  private readonly longest: number;
  /** Bytes a name can start with, in either case: most identifiers are told apart by their first byte alone. */
  private readonly starts = new Uint8Array(256);

  constructor(names: Iterable<string>) {
    this.names = new Set([...names].map((name) => name.toLowerCase()));
    this.lengths = new Set([...this.names].map((name) => name.length));
    this.longest = Math.max(0, ...this.lengths);
    for (const name of this.names) {
      this.starts[name.charCodeAt(0)] = 1;
      this.starts[name.toUpperCase().charCodeAt(0)] = 1;
    }
  }

  /** True when the SQL in `sql[start, end)` has one of the identifiers as a token. */
  namedIn(sql: Buffer, start = 0, end = sql.length): boolean {
    if (this.scan(sql, start, end, true)) return true;
    const backslash = sql.indexOf(BACKSLASH, start);
    return backslash >= 0 && backslash < end && this.scan(sql, start, end, false);
  }

  private scan(sql: Buffer, start: number, end: number, standardStrings: boolean): boolean {
    let i = start;
    while (i < end) {
      const byte = sql[i]!;
      if ((CLASS[byte]! & (START | OTHER)) === 0) i++;
      else if (byte === QUOTE) i = standardStrings ? standardStringEnd(sql, i + 1, end) : escapedStringEnd(sql, i + 1, end);
      else if (byte === DOUBLE_QUOTE) {
        const close = quotedIdentifierEnd(sql, i + 1, end);
        if (this.isQuotedName(sql, i + 1, close - 1, false)) return true;
        i = close;
      } else if (byte === DASH && sql[i + 1] === DASH && i + 1 < end) i = lineEnd(sql, i + 2, end);
      else if (byte === SLASH && sql[i + 1] === STAR && i + 1 < end) i = commentEnd(sql, i + 2, end);
      else if (byte === DOLLAR) i = dollarEnd(sql, i, end);
      else if (isIdentifierStart(byte)) {
        let tokenEnd = i + 1;
        while (tokenEnd < end && isIdentifierPart(sql[tokenEnd]!)) tokenEnd++;
        const next = tokenEnd < end ? sql[tokenEnd] : undefined;
        const single = tokenEnd === i + 1 ? byte | 0x20 : undefined;
        if (single === 0x65 && next === QUOTE) i = escapedStringEnd(sql, tokenEnd + 1, end);
        else if (single === 0x75 && next === AMPERSAND && tokenEnd + 1 < end && sql[tokenEnd + 1] === QUOTE) i = standardStringEnd(sql, tokenEnd + 2, end);
        else if (single === 0x75 && next === AMPERSAND && tokenEnd + 1 < end && sql[tokenEnd + 1] === DOUBLE_QUOTE) {
          const close = quotedIdentifierEnd(sql, tokenEnd + 2, end);
          if (this.isQuotedName(sql, tokenEnd + 2, close - 1, true)) return true;
          i = close;
        } else {
          if (this.starts[byte] && this.lengths.has(tokenEnd - i) && this.names.has(sql.toString('latin1', i, tokenEnd).toLowerCase())) return true;
          i = tokenEnd;
        }
      } else i++;
    }
    return false;
  }

  /**
   * A quoted identifier's text between `from` and `to`, "" standing for one quote. In U&"…" an escape (\0070, or
   * another escape character named by UESCAPE) can spell any name, so one with anything but plain identifier
   * characters counts as a match: the parser decides.
   */
  private isQuotedName(sql: Buffer, from: number, to: number, unicode: boolean): boolean {
    if (unicode) {
      for (let i = from; i < to; i++) if (!isIdentifierPart(sql[i]!) || sql[i]! >= 0x80) return true;
    }
    // "" takes two bytes for one character: longer text cannot be a name.
    if (to <= from || !this.starts[sql[from]!] || to - from > 2 * this.longest) return false;
    const text = sql.toString('latin1', from, Math.max(from, to)).replaceAll('""', '"');
    return this.lengths.has(text.length) && this.names.has(text);
  }
}

/** Per byte: 1 when an identifier can start with it, 2 when it can only continue one; 4 when a token of another kind starts with it. */
const CLASS = new Uint8Array(256);
const START = 1;
const PART = 2;
const OTHER = 4;
for (let byte = 0; byte < 256; byte++) {
  const letter = (byte >= 0x61 && byte <= 0x7a) || (byte >= 0x41 && byte <= 0x5a) || byte === 0x5f || byte >= 0x80;
  CLASS[byte] = letter ? START : (byte >= 0x30 && byte <= 0x39) || byte === DOLLAR ? PART : 0;
}
for (const byte of [QUOTE, DOUBLE_QUOTE, DASH, SLASH, DOLLAR]) CLASS[byte]! |= OTHER;

function isIdentifierStart(byte: number): boolean {
  return (CLASS[byte]! & START) !== 0;
}

function isIdentifierPart(byte: number): boolean {
  return (CLASS[byte]! & (START | PART)) !== 0;
}

/**
 * After the closing `quote` of a run where a doubled quote stands for itself ('…' with standard strings, "…"); `end`
 * if none. A backslash is an ordinary character there.
 */
function doubledQuoteEnd(sql: Buffer, from: number, end: number, quote: number): number {
  let i = from;
  for (;;) {
    const close = sql.indexOf(quote, i);
    if (close < 0 || close >= end) return end;
    if (close + 1 < end && sql[close + 1] === quote) i = close + 2;
    else return close + 1;
  }
}

function standardStringEnd(sql: Buffer, from: number, end: number): number {
  return doubledQuoteEnd(sql, from, end, QUOTE);
}

/** After the closing quote of E'…', where a backslash escapes the byte after it. */
function escapedStringEnd(sql: Buffer, from: number, end: number): number {
  for (let i = from; i < end; i++) {
    const byte = sql[i];
    if (byte === BACKSLASH) i++;
    else if (byte === QUOTE) {
      if (i + 1 < end && sql[i + 1] === QUOTE) i++;
      else return i + 1;
    }
  }
  return end;
}

function quotedIdentifierEnd(sql: Buffer, from: number, end: number): number {
  return doubledQuoteEnd(sql, from, end, DOUBLE_QUOTE);
}

function lineEnd(sql: Buffer, from: number, end: number): number {
  for (let i = from; i < end; i++) if (sql[i] === NEWLINE || sql[i] === CARRIAGE_RETURN) return i + 1;
  return end;
}

/** After the end of a block comment, counting the block comments nested in it. */
function commentEnd(sql: Buffer, from: number, end: number): number {
  let depth = 1;
  for (let i = from; i + 1 < end; i++) {
    if (sql[i] === SLASH && sql[i + 1] === STAR) {
      depth++;
      i++;
    } else if (sql[i] === STAR && sql[i + 1] === SLASH) {
      i++;
      if (--depth === 0) return i + 1;
    }
  }
  return end;
}

/** At a $ outside a token: after the $tag$…$tag$ string it opens, or after the $ itself ($1, an operator). */
function dollarEnd(sql: Buffer, dollar: number, end: number): number {
  let i = dollar + 1;
  if (i < end && isIdentifierStart(sql[i]!)) {
    while (i < end && isIdentifierPart(sql[i]!) && sql[i] !== DOLLAR) i++;
  }
  if (i >= end || sql[i] !== DOLLAR) return dollar + 1;
  const delimiter = sql.subarray(dollar, i + 1);
  const close = sql.indexOf(delimiter, i + 1);
  return close < 0 || close + delimiter.length > end ? end : close + delimiter.length;
}

/**
 * Bytes of SQL text outside string literals and comments, as the proxy's parser reads it (standard_conforming_strings
 * on): what its parse costs grows with. A literal costs next to nothing to parse; code, a parse-tree node or more a
 * few bytes.
 */
export function codeBytes(sql: Buffer, start = 0, end = sql.length): number {
  let code = 0;
  let i = start;
  while (i < end) {
    const byte = sql[i]!;
    let next = i + 1;
    if (byte === QUOTE) next = standardStringEnd(sql, i + 1, end);
    else if (byte === DASH && sql[i + 1] === DASH && i + 1 < end) next = lineEnd(sql, i + 2, end);
    else if (byte === SLASH && sql[i + 1] === STAR && i + 1 < end) next = commentEnd(sql, i + 2, end);
    else if (byte === DOLLAR) next = dollarEnd(sql, i, end);
    else if ((byte | 0x20) === 0x65 && sql[i + 1] === QUOTE && !(i > start && isIdentifierPart(sql[i - 1]!))) next = escapedStringEnd(sql, i + 2, end);
    if (next === i + 1) code++;
    i = next;
  }
  return code;
}
