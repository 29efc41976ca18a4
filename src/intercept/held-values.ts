// Values of settings that the server must never see (a master key, an API key): the proxy keeps each one and hands
// the server a reference of its own in its place, which means nothing in any other session. PostgreSQL then gives
// the setting every semantics a setting has (SET LOCAL, RESET, rollbacks, SHOW), while its logs, pg_stat_activity
// and SHOW see only the reference.

import { randomBytes } from 'node:crypto';
import { PgError } from '../../proxy/pg-error.js';

const REFERENCE_PREFIX = 'held by pg_llm proxy ';
const REFERENCE_PATTERN = new RegExp(`${REFERENCE_PREFIX}[0-9a-f]{32}`, 'g');
/** References a session keeps; a rollback reaching back past this many SETs finds its value gone (and says so). */
const MAX_REFERENCES = 64;

/** The longest value held: no key or passphrase is near it, and a session holds up to MAX_REFERENCES of them. */
const MAX_VALUE_BYTES = 64 * 1024;

/** `value`, if it is short enough to hold as `setting`'s. */
export function holdable(setting: string, value: string): string {
  if (Buffer.byteLength(value) <= MAX_VALUE_BYTES) return value;
  throw new PgError('22023', `a value of ${setting} may be at most ${MAX_VALUE_BYTES / 1024} kB`, {
    hint: 'The proxy holds the key in the server\'s place; no key is this long. Check what the statement sets.',
  });
}

export class HeldValues<Value> {
  private readonly values = new Map<string, Value>();

  /** The reference the server gets in the value's place. */
  hold(value: Value): string {
    const reference = REFERENCE_PREFIX + randomBytes(16).toString('hex');
    if (this.values.size >= MAX_REFERENCES) this.values.delete(this.values.keys().next().value!);
    this.values.set(reference, value);
    return reference;
  }

  /** The reference the value is held under already, else a new one: a statement run again and again takes one place. */
  reuse(value: Value, same: (held: Value, value: Value) => boolean = Object.is): string {
    for (const [reference, held] of this.values) {
      if (!same(held, value)) continue;
      // Newest again, so a value in use is the last to go.
      this.values.delete(reference);
      this.values.set(reference, value);
      return reference;
    }
    return this.hold(value);
  }

  /** How many values are held. */
  get size(): number {
    return this.values.size;
  }

  get(reference: string): Value | undefined {
    return this.values.get(reference);
  }

  /** Lets go of the values `which` picks: their references stand for nothing any more. */
  forget(which: (value: Value, reference: string) => boolean): void {
    for (const [reference, value] of this.values) if (which(value, reference)) this.values.delete(reference);
  }

  /** Whether a setting's value is a reference (of this session's or not) rather than a value of its own. */
  static isReference(value: string): boolean {
    return value.startsWith(REFERENCE_PREFIX);
  }

  /** Each reference written in `text`, with where (in UTF-16 units) it is written last. */
  static lastWritten(text: string): Map<string, number> {
    const places = new Map<string, number>();
    for (const match of text.matchAll(REFERENCE_PATTERN)) places.set(match[0], match.index);
    return places;
  }
}

/** The query string with each span of its bytes (in order, not overlapping) replaced by its text. */
export function replaced(sql: string, spans: Array<{ start: number; end: number; text: string }>): string {
  const bytes = Buffer.from(sql, 'utf8');
  const parts: Buffer[] = [];
  let from = 0;
  for (const { start, end, text } of spans) {
    parts.push(bytes.subarray(from, start), Buffer.from(text, 'utf8'));
    from = end;
  }
  parts.push(bytes.subarray(from));
  return Buffer.concat(parts).toString('utf8');
}
