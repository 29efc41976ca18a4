// Masks every piece of a secret in a text, not only a whole copy: a provider that echoes the key minus a few
// characters, or splits it across stream chunks, must not hand it on. Each run of FRAGMENT_LENGTH characters of a
// secret is indexed once; a text is scanned in linear time, and every character covered by such a run is masked.
// Eight characters: a fragment that short is all a leak can carry unmasked, and ordinary text almost never shares
// eight characters in a row with a random key. Secrets shorter than that are not secrets worth the name (and
// would mask common words): they are left alone.

import { credentialsIn } from './config-secrets.js';

export const FRAGMENT_LENGTH = 8;
const MASK = '****';


export class SecretFragments {
  private readonly fragments = new Set<string>();

  constructor(secrets: Iterable<string | undefined>) {
    for (const secret of secrets) {
      if (!secret) continue;
      for (let start = 0; start + FRAGMENT_LENGTH <= secret.length; start++) this.fragments.add(secret.slice(start, start + FRAGMENT_LENGTH));
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
      if (position + FRAGMENT_LENGTH <= text.length && this.fragments.has(text.slice(position, position + FRAGMENT_LENGTH))) {
        reach = Math.max(reach, position + FRAGMENT_LENGTH);
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
    const kept = Math.min(text.length, FRAGMENT_LENGTH - 1);
    this.coveredFromBefore = text.length > 0 ? Math.max(0, covered[text.length - 1]! - (text.length - kept)) : 0;
    this.tail = text.slice(text.length - kept);
    return out;
  }
}
