// Masks every long piece of a secret in a text, not only a whole copy: a provider that echoes the key minus a few
// characters, or splits it across stream chunks, must not hand it on. Each run of a secret's fragment length is
// indexed once; a text is scanned in linear time, and every character covered by such a run is masked.
//
// A fragment is FRAGMENT_LENGTH characters (the whole secret where it is shorter), because masking answers a guess:
// any role may have any model repeat its own text, and which strings come back masked would tell it which are pieces
// of the key (review29: with 8-character runs, starting from a key's public prefix, a key a character a call). A
// guess is only answered once it holds a whole fragment, so it must already hold FRAGMENT_LENGTH - 1 characters of
// the key in a row, far more than any key's public part (sk-ant-api03- is 13), and the rest is too many to try. A
// leak shorter than a fragment goes unmasked: too little of a key to use. Secrets shorter than MIN_SECRET_LENGTH are
// not secrets worth the name (and would mask common words): they are left alone.
//
// Answers are masked on the event loop every session shares, up to --max-response-bytes (8 MiB) each, and a text is
// scanned once per fragment length, which a model's config may make 17 (a credential of each length from 8 to 23).
// Review31: cutting out and looking up a string at every character and length, one role's model froze every session
// for 2.3 s per MiB of its answer. So a text is scanned with rolling hashes, a few arithmetic steps a character and
// length, and a whole answer a turn of the event loop at a time (maskInTurns). Hashes keyed at random per process
// that match tell of a fragment; one that matches by chance only masks a little more of an answer.

import { randomInt } from 'node:crypto';
import { setImmediate } from 'node:timers/promises';
import { credentialsIn } from './config-secrets.js';

export const FRAGMENT_LENGTH = 24;
/** What one turn of the event loop masks of a long text: milliseconds' work even at every fragment length. */
export const CHARACTERS_A_TURN = 64 * 1024;
const MIN_SECRET_LENGTH = 8;
const MASK = '****';

/**
 * A secret as a provider may echo it: as it is; percent-encoded as a request's query carries it (a signature's / + =
 * each become three characters, so that no run of the raw text is left long enough to match: review V2), with
 * lower-case escapes, twice, or with its slashes kept (Python's quote()); form-encoded as URLSearchParams writes it;
 * and escaped as a JSON string (a header value with a quote or a backslash), with slashes escaped too (PHP, some Java),
 * < > & as Go writes them, or every character past ASCII as \uXXXX (Python's ensure_ascii: review W1); in upper or
 * lower case; and base64-encoded, wherever it stands in the bytes encoded (Basic auth's user:key, a JWT's claims):
 * one spelling for each of its three alignments, without the characters its neighbours share (review R7).
 */
function spellings(secret: string): Set<string> {
  const percent = encodeURIComponent(secret);
  const json = JSON.stringify(secret).slice(1, -1);
  const unicodeEscaped = (text: string, characters: RegExp): string => text.replace(characters, (character) => `\\u${character.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return new Set([
    secret,
    percent,
    percent.replace(/%[0-9A-F]{2}/g, (escape) => escape.toLowerCase()),
    encodeURIComponent(percent),
    percent.replaceAll('%2F', '/'),
    new URLSearchParams({ s: secret }).toString().slice(2),
    json,
    json.replaceAll('/', '\\/'),
    unicodeEscaped(json, /[<>&]/g),
    unicodeEscaped(json, /[^\x00-\x7f]/g),
    secret.toUpperCase(),
    secret.toLowerCase(),
    // A base64 fragment holds 18 of the key's bytes: a guess answered so must already hold 17 and more of them in a
    // row, still past any key's public part.
    ...[0, 1, 2].map((offset) => base64Within(secret, offset)).filter((spelling) => spelling.length >= MIN_SECRET_LENGTH),
  ]);
}

/**
 * The characters of base64 that only the secret's bytes decide, where it starts `offset` bytes (mod 3) into what is
 * encoded: a four-character group that encodes a byte before or after it also depends on that byte, and is left out.
 */
function base64Within(secret: string, offset: number): string {
  const bytes = Buffer.concat([Buffer.alloc(offset), Buffer.from(secret, 'utf8')]);
  const whole = Math.floor(bytes.length / 3) * 3;
  return bytes.subarray(0, whole).toString('base64').slice(offset === 0 ? 0 : 4);
}

export class SecretFragments {
  /** The hashes of the fragments, by length: FRAGMENT_LENGTH, and the lengths of shorter secrets. */
  private readonly fragments = new Map<number, FragmentHashes>();
  /** The longest fragment: how much of a streamed text a fragment split across pieces can span. */
  readonly longest: number = 0;

  constructor(secrets: Iterable<string | undefined>) {
    for (const secret of secrets) {
      if (!secret || secret.length < MIN_SECRET_LENGTH) continue;
      for (const spelling of spellings(secret)) {
        const length = Math.min(FRAGMENT_LENGTH, spelling.length);
        (this.fragments.get(length) ?? this.fragments.set(length, new FragmentHashes(length)).get(length)!).add(spelling);
        this.longest = Math.max(this.longest, length);
      }
    }
  }

  /** The secrets of a provider instance: its API key and the credential values of its config. */
  static of(config: Record<string, unknown>, apiKey: string | undefined): SecretFragments {
    return new SecretFragments([apiKey, ...Object.entries(config).flatMap(([name, value]) => credentialsIn(name, value))]);
  }

  get empty(): boolean {
    return this.fragments.size === 0;
  }

  mask(text: string): string {
    if (this.empty) return text;
    return this.masked(text, this.coveredUntil(text, 0), 0);
  }

  /** A masker for text that arrives in pieces, such as a streamed answer's chunks. */
  stream(): StreamMasker {
    return new StreamMasker(this);
  }

  /**
   * For each position of `text`, how far the fragments starting there or before it reach (beyond the position
   * itself when one covers it); `coveredFromBefore` is the reach of fragments that started before the text.
   */
  coveredUntil(text: string, coveredFromBefore: number): Int32Array {
    const covered = new Int32Array(text.length);
    this.markStarts(text, covered, 0, text.length);
    reaching(covered, coveredFromBefore);
    return covered;
  }

  /**
   * mask(), a turn of the event loop at a time for a long text (a whole answer of up to --max-response-bytes), so
   * that no session waits for all of it: each fragment length is a scan of the whole text, and so are finding how far
   * the fragments reach and cutting the text around them (review R3: those two, done at once, held every session for
   * most of a second over eight answers of 7 MB).
   */
  async maskInTurns(text: string): Promise<string> {
    if (this.empty || text.length <= CHARACTERS_A_TURN) return this.mask(text);
    const covered = new Int32Array(text.length);
    for (let from = 0; from < text.length; from += CHARACTERS_A_TURN) {
      await setImmediate();
      this.markStarts(text, covered, from, from + CHARACTERS_A_TURN);
    }
    for (let from = 0, reach = 0; from < text.length; from += CHARACTERS_A_TURN) {
      await setImmediate();
      reach = reaching(covered, reach, from, from + CHARACTERS_A_TURN);
    }
    let result = '';
    for (let from = 0; from < text.length; ) {
      await setImmediate();
      const piece = this.maskedPiece(text, covered, from, from + CHARACTERS_A_TURN);
      result += piece.text;
      from = piece.next;
    }
    return result;
  }

  /** Where the fragments starting at each position in [from, to) reach. */
  private markStarts(text: string, covered: Int32Array, from: number, to: number): void {
    for (const hashes of this.fragments.values()) hashes.mark(text, covered, from, to);
  }

  /** `text` from `start` on, with each run of covered characters replaced by one mask. */
  masked(text: string, covered: Int32Array, start: number): string {
    return this.maskedPiece(text, covered, start, text.length).text;
  }

  /**
   * `text` from `start` on, each run of covered characters replaced by one mask, up to about `until`: a run that
   * goes on past it is taken whole, and `next` says where the rest begins.
   */
  private maskedPiece(text: string, covered: Int32Array, start: number, until: number): { text: string; next: number } {
    const end = text.length;
    let result = '';
    let position = start;
    while (position < end && position < until) {
      if (covered[position]! > position) {
        result += MASK;
        while (position < end && covered[position]! > position) position++;
      } else {
        const from = position;
        while (position < end && position < until && !(covered[position]! > position)) position++;
        result += text.slice(from, position);
      }
    }
    return { text: result, next: position };
  }
}

/** Every string of a JSON value, the names of its objects' members too, through `mask`. */
export function maskedJson(value: unknown, mask: (text: string) => string): unknown {
  if (typeof value === 'string') return mask(value);
  if (Array.isArray(value)) return value.map((item) => maskedJson(item, mask));
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(Object.entries(value).map(([name, inner]) => [mask(name), maskedJson(inner, mask)]));
}

/**
 * `covered`, where each start's reach is, made how far the fragments starting there or before reach, in [from, to);
 * `reach` is how far those before `from` reach. Returns how far those up to `to` reach.
 */
function reaching(covered: Int32Array, reach: number, from = 0, to = covered.length): number {
  for (let position = from; position < Math.min(to, covered.length); position++) {
    reach = Math.max(reach, covered[position]!);
    covered[position] = reach;
  }
  return reach;
}

/**
 * Masks each piece against the end of the one before, so a fragment split across pieces is masked from where the
 * split falls: what went out before the split is shorter than a fragment. Pieces go out as they come, none held back.
 */
export class StreamMasker {
  private tail = '';
  private coveredFromBefore = 0;

  constructor(private readonly fragments: SecretFragments) {}

  push(piece: string): string {
    if (this.fragments.empty) return piece;
    const text = this.tail + piece;
    const covered = this.fragments.coveredUntil(text, this.coveredFromBefore);
    const out = this.fragments.masked(text, covered, this.tail.length);
    const kept = Math.min(text.length, this.fragments.longest - 1);
    this.coveredFromBefore = text.length > 0 ? Math.max(0, covered[text.length - 1]! - (text.length - kept)) : 0;
    this.tail = text.slice(text.length - kept);
    return out;
  }

  /**
   * push(), a turn of the event loop for each CHARACTERS_A_TURN of a long piece (a provider may stream a whole answer
   * as one), as if it had come in pieces of that length: the provider chooses where its pieces end anyway.
   */
  async pushInTurns(piece: string): Promise<string> {
    if (piece.length <= CHARACTERS_A_TURN) return this.push(piece);
    let out = '';
    for (let from = 0; from < piece.length; from += CHARACTERS_A_TURN) {
      await setImmediate();
      out += this.push(piece.slice(from, from + CHARACTERS_A_TURN));
    }
    return out;
  }
}

// Two polynomial hashes of a window of UTF-16 code units, modulo 2^32 with odd bases drawn per process, each cut to
// 30 bits so that V8 keeps it as a small integer (no number is made on the heap per character). A bitmap of the
// first's low bits turns most windows away before any lookup.
const BASES = [randomInt(1 << 16, 1 << 30) | 1, randomInt(1 << 16, 1 << 30) | 1] as const;
const SMALL = 0x3fffffff;
const FILTER_WORDS = (1 << 16) / 32;

/** The fragments of one length, by their hashes. */
class FragmentHashes {
  private readonly filter = new Uint32Array(FILTER_WORDS);
  private readonly byFirst = new Map<number, Set<number>>();

  constructor(readonly length: number) {}

  /** Takes in every window of the secret. */
  add(secret: string): void {
    for (let start = 0; start + this.length <= secret.length; start++) {
      const [first, second] = hashesAt(secret, start, this.length);
      const key = first & SMALL;
      this.filter[(key & 0xffff) >>> 5]! |= 1 << (key & 31);
      (this.byFirst.get(key) ?? this.byFirst.set(key, new Set()).get(key)!).add(second & SMALL);
    }
  }

  /** Sets covered[start] to start + length, at least, for each start in [from, to) where a fragment of `text` begins. */
  mark(text: string, covered: Int32Array, from: number, to: number): void {
    const { length, filter, byFirst } = this;
    const last = Math.min(to, text.length - length + 1);
    if (from >= last) return;
    const [baseFirst, baseSecond] = BASES;
    // What the code unit leaving the window weighed in it: base^(length - 1).
    let leavingFirst = 1;
    let leavingSecond = 1;
    for (let i = 1; i < length; i++) {
      leavingFirst = Math.imul(leavingFirst, baseFirst);
      leavingSecond = Math.imul(leavingSecond, baseSecond);
    }
    let [first, second] = hashesAt(text, from, length);
    for (let start = from; ; start++) {
      const key = first & SMALL;
      if ((filter[(key & 0xffff) >>> 5]! & (1 << (key & 31))) !== 0 && byFirst.get(key)?.has(second & SMALL)) {
        covered[start] = Math.max(covered[start]!, start + length);
      }
      if (start + 1 >= last) return;
      const out = text.charCodeAt(start);
      const into = text.charCodeAt(start + length);
      first = (Math.imul((first - Math.imul(out, leavingFirst)) | 0, baseFirst) + into) | 0;
      second = (Math.imul((second - Math.imul(out, leavingSecond)) | 0, baseSecond) + into) | 0;
    }
  }
}

/** The two hashes of the window of `length` code units of `text` from `start`. */
function hashesAt(text: string, start: number, length: number): [number, number] {
  let first = 0;
  let second = 0;
  for (let i = start; i < start + length; i++) {
    first = (Math.imul(first, BASES[0]) + text.charCodeAt(i)) | 0;
    second = (Math.imul(second, BASES[1]) + text.charCodeAt(i)) | 0;
  }
  return [first, second];
}
