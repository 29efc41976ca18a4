// Whether SQL text names one of a few identifiers as a token of its own, by PostgreSQL's lexical rules (scan.l):
// not inside a string literal ('…', E'…', U&'…', $tag$…$tag$) or a comment (-- and nested /* */). A quoted
// identifier ("…", U&"…") is an identifier too, matched case-sensitively as PostgreSQL does. It runs over the raw
// bytes, with native searches for the ends of strings and comments, so a statement's data cost next to nothing.
//
// The proxy does not know the session's standard_conforming_strings: with a backslash in the text, a miss is
// confirmed by reading '…' the other way too (backslash escapes), so a name counts when either reading sees it.

import {
  BACKSLASH,
  CARRIAGE_RETURN,
  DASH,
  DOLLAR,
  IdentifierScan,
  isIdentifierPart,
  isIdentifierStart,
  NEWLINE,
  QUOTE,
  SLASH,
  STAR,
} from './identifier-scan.js';

const EMPTY = Buffer.alloc(0);

/**
 * Identifiers to look for, lower-case; matched unquoted in any case, quoted exactly. `settingPrefixes` are the
 * prefixes of settings' names: matched unquoted too, and quoted in any case (PostgreSQL looks settings up in any
 * case) and as the start of one quoted name, as a setting's name may be written whole as one identifier,
 * "ai.openai_api_key".
 */
export class IdentifierSet {
  /** Every name, the prefixes' too: what an unquoted token is matched against. */
  private readonly tokens: ReadonlySet<string>;
  private readonly tokenLengths: ReadonlySet<number>;
  /** caseFoldedHash of each token: most words are told from the names without making a string of them. */
  private readonly tokenHashes: ReadonlySet<number>;
  private readonly quoted: ReadonlySet<string>;
  private readonly prefixes: ReadonlySet<string>;
  /** The lengths of the names as written within double quotes (a quote doubled), and of the prefixes. */
  private readonly quotedLengths: ReadonlySet<number>;
  private readonly prefixLengths: ReadonlySet<number>;
  readonly longest: number;
  /** Bytes a name can start with, in either case: most identifiers are told apart by their first byte alone. */
  private readonly starts = new Uint8Array(256);

  constructor(names: Iterable<string>, settingPrefixes: Iterable<string> = []) {
    this.quoted = new Set([...names].map((name) => name.toLowerCase()));
    this.prefixes = new Set([...settingPrefixes].map((name) => name.toLowerCase()));
    this.tokens = new Set([...this.quoted, ...this.prefixes]);
    this.tokenLengths = new Set([...this.tokens].map((name) => name.length));
    this.tokenHashes = new Set([...this.tokens].map((name) => caseFoldedHash(Buffer.from(name, 'latin1'), 0, name.length)));
    this.quotedLengths = new Set([...this.quoted].map((name) => name.replaceAll('"', '""').length));
    this.prefixLengths = new Set([...this.prefixes].map((name) => name.replaceAll('"', '""').length));
    this.longest = Math.max(0, ...this.tokenLengths);
    for (const name of this.tokens) {
      this.starts[name.charCodeAt(0)] = 1;
      this.starts[name.toUpperCase().charCodeAt(0)] = 1;
    }
  }

  /** The names of both sets, looked for in one scan. */
  and(other: IdentifierSet): IdentifierSet {
    return new IdentifierSet([...this.quoted, ...other.quoted], [...this.prefixes, ...other.prefixes]);
  }

  /** True when the SQL in `sql[start, end)` has one of the identifiers as a token. */
  namedIn(sql: Buffer, start = 0, end = sql.length): boolean {
    const text = sql.subarray(start, end);
    const standard = new IdentifierScan(this, true);
    standard.push(text, true);
    if (standard.found || !text.includes(BACKSLASH)) return standard.found;
    const escaped = new IdentifierScan(this, false);
    escaped.push(text, true);
    return escaped.found;
  }

  /** namedIn for a text read in pieces, as they come. */
  scanner(): IdentifierScanner {
    return new IdentifierScanner(this);
  }

  /** Whether the unquoted token `sql[from, to)` is one of the names. */
  isToken(sql: Buffer, from: number, to: number): boolean {
    return (
      this.starts[sql[from]!] === 1 &&
      this.tokenLengths.has(to - from) &&
      this.tokenHashes.has(caseFoldedHash(sql, from, to)) &&
      this.tokens.has(sql.toString('latin1', from, to).toLowerCase())
    );
  }

  /**
   * Whether a quoted identifier of `length` bytes as written ("" standing for one quote) is one of the names, given
   * its first `kept` bytes in `text` (at least 2 × longest + 1 of them, or all). Lengths are compared before any
   * text is made: a statement may hold millions of quoted identifiers (review O).
   */
  isQuotedText(text: Buffer, kept: number, length: number): boolean {
    if (length === 0 || !this.starts[text[0]!]) return false;
    if (kept === length && this.quotedLengths.has(length) && this.quoted.has(text.toString('latin1', 0, kept).replaceAll('""', '"'))) return true;
    if (this.prefixes.size === 0) return false;
    let dot = 0;
    while (dot < kept && text[dot] !== 0x2e) dot++;
    if (dot === kept && kept < length) return false;
    return this.prefixLengths.has(dot) && this.prefixes.has(text.toString('latin1', 0, dot).replaceAll('""', '"').toLowerCase());
  }
}

/** FNV-1a of `bytes[from, to)`, ASCII letters taken in lower case: the same for a word in any case. */
function caseFoldedHash(bytes: Buffer, from: number, to: number): number {
  let hash = 0x811c9dc5;
  for (let i = from; i < to; i++) {
    const byte = bytes[i]!;
    hash = Math.imul(hash ^ (byte >= 0x41 && byte <= 0x5a ? byte | 0x20 : byte), 0x01000193);
  }
  return hash;
}

/**
 * Both readings of a text read in pieces: a name counts when either sees it, as in namedIn. The reading with
 * backslash escapes starts from the other's state at the first piece that has a backslash: before it, both read
 * alike (a statement's every byte read twice took twice as long).
 */
export class IdentifierScanner {
  private readonly standard: IdentifierScan;
  private escaped: IdentifierScan | undefined;

  constructor(names: IdentifierSet) {
    this.standard = new IdentifierScan(names, true);
  }

  push(piece: Buffer): void {
    if (this.standard.found) return;
    if (this.escaped === undefined && piece.includes(BACKSLASH)) this.escaped = this.standard.escapedTwin();
    this.standard.push(piece);
    if (!this.standard.found) this.escaped?.push(piece);
  }

  /** The text has ended: whether it named one of the identifiers. */
  end(): boolean {
    this.standard.push(EMPTY, true);
    if (!this.standard.found) this.escaped?.push(EMPTY, true);
    return this.standard.found || (this.escaped?.found ?? false);
  }
}

/** After the closing quote of '…' with standard strings, where a doubled quote stands for itself; `end` if none. */
function standardStringEnd(sql: Buffer, from: number, end: number): number {
  let i = from;
  for (;;) {
    const close = sql.indexOf(QUOTE, i);
    if (close < 0 || close >= end) return end;
    if (close + 1 < end && sql[close + 1] === QUOTE) i = close + 2;
    else return close + 1;
  }
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
