// The lexical scan behind IdentifierSet.namedIn, resumable: SQL text may come in pieces (a statement too big to hold
// whole is judged as it streams through the proxy), and the scan carries from one piece to the next where it is (in a
// string literal, a comment, a dollar quote, a quoted identifier) and the few bytes of a token a piece cut in two.
// Read in one piece, the text is scanned as a whole: nothing is carried. An observer is told where the code and the
// block comments are (parser.ts blanks what nests in the comments before PostgreSQL's parser reads them).

import type { IdentifierSet } from './identifiers.js';

export const QUOTE = 0x27;
const DOUBLE_QUOTE = 0x22;
export const BACKSLASH = 0x5c;
export const DOLLAR = 0x24;
export const DASH = 0x2d;
export const SLASH = 0x2f;
export const STAR = 0x2a;
const AMPERSAND = 0x26;
export const NEWLINE = 0x0a;
export const CARRIAGE_RETURN = 0x0d;
/** Spaces but newlines, as scan.l has them: tab, vertical tab, form feed, space. */
const HORIZONTAL_SPACE = new Set([0x09, 0x0b, 0x0c, 0x20]);
const EMPTY = Buffer.alloc(0);
/**
 * The most bytes carried to the next piece (a token cut in two, the end of a dollar quote's delimiter): a dollar tag
 * longer than this is not followed, and the scan counts it as a match, as it does what it cannot read.
 */
const MAX_CARRY = 1024;
/**
 * Bytes looked at one by one for the end of a token before a native search takes over: most tokens end within
 * them, and a call into a native search costs more than that.
 */
const SHORT_RUN = 32;

const enum Mode {
  Code,
  /** '…' where a doubled quote stands for itself (standard_conforming_strings, U&'…'). */
  Standard,
  /** '…' where a backslash escapes the byte after it too (E'…', and '…' read the other way). */
  Escaped,
  Quoted,
  LineComment,
  BlockComment,
  DollarQuote,
  /** An identifier longer than any name, read to its end. */
  LongWord,
}

/**
 * Told, by a scan of a whole text, where its code and its block comments are (src/sql/parser.ts), in bytes of the
 * text (counted from its first piece).
 */
export interface LexicalObserver {
  /** A token of code: a word, or one byte (an operator character, a digit, punctuation, a space). */
  code(start: number, end: number): void;
  /** A block comment with the ones nested in it; `closed` false when the text ends in it. */
  blockComment(start: number, end: number, closed: boolean): void;
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

/** Per byte: 1 for the letters that open a string when a quote follows them (E'…', U&'…'). */
const STRING_PREFIX = new Uint8Array(256);
for (const letter of 'eEuU') STRING_PREFIX[letter.charCodeAt(0)] = 1;

export function isIdentifierStart(byte: number): boolean {
  return (CLASS[byte]! & START) !== 0;
}

export function isIdentifierPart(byte: number): boolean {
  return (CLASS[byte]! & (START | PART)) !== 0;
}

/**
 * The native search for one byte in the piece being read, remembered: the scan asks from ever later places, and a
 * search that found the byte far ahead (or nowhere) answers every ask before that place without searching again.
 * Searched afresh from each token's end, a piece of a million short strings was searched over a million times
 * (review O).
 */
class NextByte {
  private from = Infinity;
  private at = -1;

  constructor(private readonly byte: number) {}

  /** A new piece is read: what was found in the last one does not hold. */
  forget(): void {
    this.from = Infinity;
  }

  /** Where the byte is in `sql` at or after `from`, or -1. */
  in(sql: Buffer, from: number): number {
    if (from < this.from || (this.at >= 0 && this.at < from)) {
      this.from = from;
      this.at = sql.indexOf(this.byte, from);
    }
    return this.at;
  }
}

/** One reading of the text (`standardStrings`: whether '…' takes backslashes as they are). */
export class IdentifierScan {
  /** A name was seen as a token (or something the scan cannot read past was). */
  found = false;
  private mode = Mode.Code;
  private carry = EMPTY;
  /** Where, in the piece being read, the bytes to carry start (-1: none). */
  private held = -1;
  private depth = 0;
  /** Bytes of the text before the piece being read, less those carried into it: where that piece starts. */
  private origin = 0;
  private pushed = 0;
  private commentStart = 0;
  /**
   * After an E'…' string: 1 while only spaces and -- comments follow it, 2 once a newline has. A quote then goes on
   * with the string (scan.l's quotecontinue), backslashes and all; a block comment ends it.
   */
  private continuation = 0;
  /** A -- comment came since the E'…' string ended: where the string's continuation is, servers disagree. */
  private commentInContinuation = false;
  /** Mode.Standard was opened by a plain quote, not U&': the other reading has it as Mode.Escaped. */
  private plainString = false;
  private delimiter = EMPTY;
  /** The quoted identifier's first bytes as written (up to what a name can take: `kept` of them), and its length. */
  private readonly quoted: Buffer;
  private kept = 0;
  private quotedLength = 0;
  private unicode = false;
  /** In U&"…": a byte that is no plain identifier character, before the last one read. */
  private escaped = false;
  private lastQuotedByte = -1;

  private readonly quotes = new NextByte(QUOTE);
  private readonly backslashes = new NextByte(BACKSLASH);
  private readonly doubleQuotes = new NextByte(DOUBLE_QUOTE);
  private readonly dollars = new NextByte(DOLLAR);

  constructor(
    private readonly names: IdentifierSet,
    private readonly standardStrings: boolean,
    private readonly observer?: LexicalObserver,
  ) {
    this.quoted = Buffer.alloc(2 * names.longest + 1);
  }

  /**
   * This reading of standard strings where it is, as the other reading (backslash escapes) has it too when the text
   * so far holds no backslash: the two differ only in how '…' ends, so the other reading need not be made until the
   * first backslash comes. The state is copied whole; a scan's own searches and buffer are not shared.
   */
  escapedTwin(): IdentifierScan {
    const twin = new IdentifierScan(this.names, false);
    Object.assign(twin, this, {
      standardStrings: false,
      mode: this.mode === Mode.Standard && this.plainString ? Mode.Escaped : this.mode,
      quoted: Buffer.from(this.quoted),
      quotes: twin.quotes,
      backslashes: twin.backslashes,
      doubleQuotes: twin.doubleQuotes,
      dollars: twin.dollars,
    });
    return twin;
  }

  /** The next piece of the text; `last` when it ends the text. */
  push(piece: Buffer, last = false): void {
    if (this.found) return;
    const sql = this.carry.length > 0 ? Buffer.concat([this.carry, piece]) : piece;
    this.origin = this.pushed - this.carry.length;
    this.pushed += piece.length;
    this.carry = EMPTY;
    this.held = -1;
    for (const search of [this.quotes, this.backslashes, this.doubleQuotes, this.dollars]) search.forget();
    const end = sql.length;
    let i = 0;
    while (i < end && !this.found && this.held < 0) {
      const inCode = this.mode === Mode.Code;
      const next = this.step(sql, i, end, last);
      if (this.observer && inCode && this.mode === Mode.Code && this.held < 0) this.observer.code(this.origin + i, this.origin + next);
      i = next;
    }
    if (last && this.mode === Mode.BlockComment) this.observer?.blockComment(this.commentStart, this.origin + end, false);
    if (this.held >= 0) {
      if (end - this.held > MAX_CARRY) this.found = true;
      else this.carry = Buffer.from(sql.subarray(this.held));
    }
    if (last && this.mode === Mode.Quoted && !this.found) this.closeQuoted(false);
  }

  /** The bytes from `from` on decide nothing yet: they are read again with the next piece. */
  private hold(from: number, end: number): number {
    this.held = from;
    return end;
  }

  private step(sql: Buffer, i: number, end: number, last: boolean): number {
    switch (this.mode) {
      case Mode.Code:
        return this.code(sql, i, end, last);
      case Mode.Standard:
        return this.standardString(sql, i, end, last);
      case Mode.Escaped:
        return this.escapedString(sql, i, end, last);
      case Mode.Quoted:
        return this.quotedIdentifier(sql, i, end, last);
      case Mode.LineComment:
        return this.lineComment(sql, i, end);
      case Mode.BlockComment:
        return this.blockComment(sql, i, end, last);
      case Mode.DollarQuote:
        return this.dollarQuote(sql, i, end, last);
      case Mode.LongWord:
        while (i < end && isIdentifierPart(sql[i]!)) i++;
        if (i < end) this.mode = Mode.Code;
        return i;
    }
  }

  private code(sql: Buffer, i: number, end: number, last: boolean): number {
    if (this.observer || this.continuation !== 0) return this.codeToken(sql, i, end, last);
    // With no observer to tell of each token, the bytes that start nothing the scan follows, and whole words, are
    // read in this loop: a statement may be millions of short tokens (review O). The rest, as codeToken reads it.
    let at = i;
    while (at < end) {
      const kind = CLASS[sql[at]!]!;
      if ((kind & (START | OTHER)) === 0) {
        at++;
        continue;
      }
      if (kind === START) {
        let tokenEnd = at + 1;
        while (tokenEnd < end && (CLASS[sql[tokenEnd]!]! & (START | PART)) !== 0) tokenEnd++;
        // Not a word the piece may have cut, nor one letter that may open a string (E'…', U&'…').
        if (tokenEnd < end && (tokenEnd > at + 1 || STRING_PREFIX[sql[at]!] === 0)) {
          if (this.names.isToken(sql, at, tokenEnd)) {
            this.found = true;
            return tokenEnd;
          }
          at = tokenEnd;
          continue;
        }
      }
      at = this.codeToken(sql, at, end, last);
      if (this.mode !== Mode.Code || this.found || this.held >= 0) return at;
    }
    return at;
  }

  private codeToken(sql: Buffer, i: number, end: number, last: boolean): number {
    const byte = sql[i]!;
    if (this.continuation !== 0) {
      if (byte === NEWLINE || byte === CARRIAGE_RETURN) this.continuation = 2;
      else if (byte === QUOTE && this.continuation === 2) {
        // Across a -- comment (E'a' -- c, a newline, '…') PostgreSQL 15's lexer goes on with the string, and the
        // proxy's parser (PostgreSQL 18's) ends it: how the server reads on is not known here, so the scan cannot read
        // past it (review P). A scan for its observer only reads on as 15 does. Read with backslash escapes, a new
        // '…' is read as the string's continuation is, so both read on alike.
        if (this.commentInContinuation && this.standardStrings && this.names.longest > 0) {
          this.found = true;
          return i + 1;
        }
        this.continuation = 0;
        this.mode = Mode.Escaped;
        return i + 1;
      } else if (byte === DASH && (i + 1 >= end ? !last : sql[i + 1] === DASH)) {
        // A -- comment (or a dash the next piece decides): the continuation stands, as in PostgreSQL 15's scan.l.
        if (i + 1 < end) this.commentInContinuation = true;
      } else if (!HORIZONTAL_SPACE.has(byte)) this.continuation = 0;
    }
    if ((CLASS[byte]! & (START | OTHER)) === 0) return i + 1;
    if (byte === QUOTE) {
      this.mode = this.standardStrings ? Mode.Standard : Mode.Escaped;
      this.plainString = true;
      return i + 1;
    }
    if (byte === DOUBLE_QUOTE) return this.openQuoted(i + 1, false);
    if (byte === DASH || byte === SLASH) {
      if (i + 1 >= end) return last ? end : this.hold(i, end);
      if (byte === DASH && sql[i + 1] === DASH) this.mode = Mode.LineComment;
      else if (byte === SLASH && sql[i + 1] === STAR) {
        this.mode = Mode.BlockComment;
        this.depth = 1;
        this.commentStart = this.origin + i;
      } else return i + 1;
      return i + 2;
    }
    if (byte === DOLLAR) return this.dollar(sql, i, end, last);
    return this.word(sql, i, end, last);
  }

  /** At a $ outside a token: the $tag$ that opens a dollar quote, or the $ alone ($1, an operator). */
  private dollar(sql: Buffer, dollar: number, end: number, last: boolean): number {
    let i = dollar + 1;
    if (i < end && isIdentifierStart(sql[i]!)) {
      while (i < end && isIdentifierPart(sql[i]!) && sql[i] !== DOLLAR) i++;
    }
    if (i >= end) return last ? dollar + 1 : this.hold(dollar, end);
    if (sql[i] !== DOLLAR) return dollar + 1;
    if (!sameBytes(this.delimiter, sql, dollar, i + 1)) this.delimiter = Buffer.from(sql.subarray(dollar, i + 1));
    this.mode = Mode.DollarQuote;
    return i + 1;
  }

  private word(sql: Buffer, i: number, end: number, last: boolean): number {
    let tokenEnd = i + 1;
    while (tokenEnd < end && isIdentifierPart(sql[tokenEnd]!)) tokenEnd++;
    if (tokenEnd >= end && !last) {
      if (tokenEnd - i <= this.names.longest) return this.hold(i, end);
      this.mode = Mode.LongWord;
      return end;
    }
    const next = tokenEnd < end ? sql[tokenEnd] : undefined;
    const single = tokenEnd === i + 1 ? sql[i]! | 0x20 : undefined;
    if (single === 0x65 && next === QUOTE) {
      this.mode = Mode.Escaped;
      return tokenEnd + 1;
    }
    if (single === 0x75 && next === AMPERSAND) {
      if (tokenEnd + 1 >= end && !last) return this.hold(i, end);
      const opening = tokenEnd + 1 < end ? sql[tokenEnd + 1] : undefined;
      if (opening === QUOTE) {
        this.mode = Mode.Standard;
        this.plainString = false;
        return tokenEnd + 2;
      }
      if (opening === DOUBLE_QUOTE) return this.openQuoted(tokenEnd + 2, true);
    }
    if (this.names.isToken(sql, i, tokenEnd)) this.found = true;
    return tokenEnd;
  }

  /** Where the next `byte` (`search`'s) is at or after `from`, or -1. */
  private next(sql: Buffer, from: number, end: number, byte: number, search: NextByte): number {
    const shortEnd = Math.min(end, from + SHORT_RUN);
    for (let k = from; k < shortEnd; k++) if (sql[k] === byte) return k;
    return shortEnd < end ? search.in(sql, shortEnd) : -1;
  }

  private standardString(sql: Buffer, i: number, end: number, last: boolean): number {
    const close = this.next(sql, i, end, QUOTE, this.quotes);
    if (close < 0) return end;
    if (close + 1 >= end && !last) return this.hold(close, end);
    if (close + 1 < end && sql[close + 1] === QUOTE) return close + 2;
    this.mode = Mode.Code;
    return close + 1;
  }

  private escapedString(sql: Buffer, i: number, end: number, last: boolean): number {
    while (i < end) {
      const at = this.escapeOrQuote(sql, i, end);
      if (at < 0) return end;
      if (at + 1 >= end) return last ? end : this.hold(at, end);
      if (sql[at] === BACKSLASH || sql[at + 1] === QUOTE) {
        i = at + 2;
        continue;
      }
      this.mode = Mode.Code;
      this.continuation = 1;
      this.commentInContinuation = false;
      return at + 1;
    }
    return end;
  }

  /** Where the next backslash or quote is at or after `from`, or -1. */
  private escapeOrQuote(sql: Buffer, from: number, end: number): number {
    const shortEnd = Math.min(end, from + SHORT_RUN);
    for (let k = from; k < shortEnd; k++) if (sql[k] === BACKSLASH || sql[k] === QUOTE) return k;
    if (shortEnd >= end) return -1;
    const backslash = this.backslashes.in(sql, shortEnd);
    const quote = this.quotes.in(sql, shortEnd);
    return backslash < 0 ? quote : quote < 0 ? backslash : Math.min(backslash, quote);
  }

  private openQuoted(from: number, unicode: boolean): number {
    this.mode = Mode.Quoted;
    this.unicode = unicode;
    this.kept = 0;
    this.quotedLength = 0;
    this.escaped = false;
    this.lastQuotedByte = -1;
    return from;
  }

  private quotedIdentifier(sql: Buffer, i: number, end: number, last: boolean): number {
    const close = this.next(sql, i, end, DOUBLE_QUOTE, this.doubleQuotes);
    if (close < 0) {
      this.keepQuoted(sql, i, end);
      return end;
    }
    if (close + 1 >= end && !last) {
      this.keepQuoted(sql, i, close);
      return this.hold(close, end);
    }
    if (close + 1 < end && sql[close + 1] === DOUBLE_QUOTE) {
      this.keepQuoted(sql, i, close + 2);
      return close + 2;
    }
    this.keepQuoted(sql, i, close);
    this.closeQuoted(true);
    return close + 1;
  }

  private keepQuoted(sql: Buffer, from: number, to: number): void {
    if (to <= from) return;
    if (this.unicode && !this.escaped) {
      if (this.lastQuotedByte >= 0 && isPlain(this.lastQuotedByte) === false) this.escaped = true;
      for (let i = from; i < to - 1 && !this.escaped; i++) if (!isPlain(sql[i]!)) this.escaped = true;
    }
    this.lastQuotedByte = sql[to - 1]!;
    const keep = Math.min(to, from + this.quoted.length - this.kept);
    for (let k = from; k < keep; k++) this.quoted[this.kept++] = sql[k]!;
    this.quotedLength += to - from;
  }

  /**
   * The quoted identifier ends: at its closing quote, or (`closed` false) at the end of the text, where its last byte
   * is taken for the missing quote. In U&"…" an escape can spell any name, so one with anything but plain identifier
   * characters counts as a match: the parser decides.
   */
  private closeQuoted(closed: boolean): void {
    this.mode = Mode.Code;
    const lastCounts = closed && this.lastQuotedByte >= 0;
    // With no names to look for (a scan for its observer only), an escape spells none.
    if (this.names.longest > 0 && this.unicode && (this.escaped || (lastCounts && !isPlain(this.lastQuotedByte)))) {
      this.found = true;
      return;
    }
    const length = closed ? this.quotedLength : Math.max(0, this.quotedLength - 1);
    if (this.names.isQuotedText(this.quoted, Math.min(this.kept, length), length)) this.found = true;
  }

  /**
   * Where the dollar quote's closing delimiter starts, at or after `from`, or -1. A delimiter holds no $ but at its
   * ends, so comparing it at each $ reads no byte past the next $ but one: the search is as long as the text.
   */
  private delimiterAt(sql: Buffer, from: number, end: number): number {
    const { delimiter } = this;
    for (let at = this.next(sql, from, end, DOLLAR, this.dollars); at >= 0 && at + delimiter.length <= end; at = this.next(sql, at + 1, end, DOLLAR, this.dollars)) {
      if (sameBytes(delimiter, sql, at, at + delimiter.length)) return at;
    }
    return -1;
  }

  private lineComment(sql: Buffer, i: number, end: number): number {
    for (let k = i; k < end; k++) {
      if (sql[k] === NEWLINE || sql[k] === CARRIAGE_RETURN) {
        this.mode = Mode.Code;
        // The comment's newline is the one a string's continuation needs.
        if (this.continuation !== 0) this.continuation = 2;
        return k + 1;
      }
    }
    return end;
  }

  /** Inside a block comment, counting the block comments nested in it. */
  private blockComment(sql: Buffer, i: number, end: number, last: boolean): number {
    for (let k = i; k < end; k++) {
      const byte = sql[k];
      if (byte !== SLASH && byte !== STAR) continue;
      if (k + 1 >= end) return last ? end : this.hold(k, end);
      if (byte === SLASH && sql[k + 1] === STAR) {
        this.depth++;
        k++;
      } else if (byte === STAR && sql[k + 1] === SLASH) {
        k++;
        if (--this.depth === 0) {
          this.mode = Mode.Code;
          this.observer?.blockComment(this.commentStart, this.origin + k + 1, true);
          return k + 1;
        }
      }
    }
    return end;
  }

  private dollarQuote(sql: Buffer, i: number, end: number, last: boolean): number {
    const close = this.delimiterAt(sql, i, end);
    if (close >= 0) {
      this.mode = Mode.Code;
      return close + this.delimiter.length;
    }
    return last ? end : this.hold(Math.max(i, end - this.delimiter.length + 1), end);
  }
}

/** Whether `bytes` are those of `sql[from, to)`. */
function sameBytes(bytes: Buffer, sql: Buffer, from: number, to: number): boolean {
  if (bytes.length !== to - from) return false;
  for (let k = 0; k < bytes.length; k++) if (bytes[k] !== sql[from + k]) return false;
  return true;
}

function isPlain(byte: number): boolean {
  return isIdentifierPart(byte) && byte < 0x80;
}
