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

import { credentialsIn } from './config-secrets.js';

export const FRAGMENT_LENGTH = 24;
const MIN_SECRET_LENGTH = 8;
const MASK = '****';

export class SecretFragments {
  /** The fragments, by length: FRAGMENT_LENGTH, and the lengths of shorter secrets. */
  private readonly fragments = new Map<number, Set<string>>();
  /** The longest fragment: how much of a streamed text a fragment split across pieces can span. */
  readonly longest: number = 0;

  constructor(secrets: Iterable<string | undefined>) {
    for (const secret of secrets) {
      if (!secret || secret.length < MIN_SECRET_LENGTH) continue;
      const length = Math.min(FRAGMENT_LENGTH, secret.length);
      const ofLength = this.fragments.get(length) ?? this.fragments.set(length, new Set()).get(length)!;
      for (let start = 0; start + length <= secret.length; start++) ofLength.add(secret.slice(start, start + length));
      this.longest = Math.max(this.longest, length);
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
    let reach = coveredFromBefore;
    for (let position = 0; position < text.length; position++) {
      for (const [length, ofLength] of this.fragments) {
        if (position + length <= text.length && ofLength.has(text.slice(position, position + length))) reach = Math.max(reach, position + length);
      }
      covered[position] = reach;
    }
    return covered;
  }

  /** `text` from `start` on, with each run of covered characters replaced by one mask. */
  masked(text: string, covered: Int32Array, start: number): string {
    const end = text.length;
    let result = '';
    for (let position = start; position < end; ) {
      if (covered[position]! > position) {
        result += MASK;
        while (position < end && covered[position]! > position) position++;
      } else {
        const from = position;
        while (position < end && !(covered[position]! > position)) position++;
        result += text.slice(from, position);
      }
    }
    return result;
  }
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
}
