// The JSON of a call's result as UTF-8, in pieces, with turns of the event loop between (event-loop-turns.ts, which
// turns every so many steps, and sooner when they are big): a set-returning call's rows kept for a statement's later
// pass are one array, and JSON.stringify of two million streamed chunks in one go held every session of the proxy for
// a second, as would a few hundred rows of 16,000-dimension embeddings; the encoding of such a text and its copy into
// one Bind another few hundred milliseconds (2,048 embeddings of 3,072 numbers: 60 MB).

import { EventLoopTurns } from '../event-loop-turns.js';
import { JsonText } from '../json-text.js';

/** Characters encoded in one step: some milliseconds of work. */
const PIECE_CHARACTERS = 1 << 20;

/** JSON text encoded as UTF-8: its pieces, in order, and their bytes together. */
export interface JsonBytes {
  pieces: Buffer[];
  bytes: number;
}

/**
 * JSON.stringify(value) as UTF-8, the items of an array of rows (or other objects) stringified one at a time and the
 * text encoded a piece at a time. An array of numbers or strings, a vector of at most 16,000 dimensions for one, is
 * one step: a step for each number would cost more than it spares.
 */
export async function jsonInTurns(value: unknown): Promise<JsonBytes> {
  // JSON written out already (json-text.ts) is stored as it is.
  if (value instanceof JsonText) return { pieces: [Buffer.from(value.bytes.buffer, value.bytes.byteOffset, value.bytes.byteLength)], bytes: value.bytes.byteLength };
  const turns = new EventLoopTurns();
  const encoded = new Utf8Pieces(turns);
  if (typeof value === 'string') await encoded.addJsonString(value);
  else if (!Array.isArray(value) || !value.some((item) => typeof item === 'object' && item !== null)) {
    await encoded.add(JSON.stringify(value) ?? 'null');
  } else {
    await encoded.add('[');
    for (const [i, item] of value.entries()) {
      // As in JSON.stringify of the array: an item that has no JSON (undefined) is null.
      await encoded.add(`${i > 0 ? ',' : ''}${JSON.stringify(item) ?? 'null'}`);
      await turns.step();
    }
    await encoded.add(']');
  }
  return encoded.end();
}

/** Text encoded as UTF-8 a piece at a time: small texts gathered into one piece, a big one cut into several. */
class Utf8Pieces {
  private readonly pieces: Buffer[] = [];
  private bytes = 0;
  private waiting = '';

  constructor(private readonly turns: EventLoopTurns) {}

  async add(text: string): Promise<void> {
    this.waiting += text;
    if (this.waiting.length < PIECE_CHARACTERS) return;
    const whole = this.waiting;
    this.waiting = '';
    for (let start = 0; start < whole.length; ) {
      // A surrogate pair stays in one piece: cut in two, each half would be encoded as U+FFFD.
      const end = pieceEnd(whole, start);
      this.push(Buffer.from(whole.slice(start, end), 'utf8'));
      start = end;
      await this.turns.step();
    }
  }

  /** A string as JSON, written a piece at a time: JSON.stringify of a model's 7 MB answer at once took some 50 ms. */
  async addJsonString(text: string): Promise<void> {
    await this.add('"');
    for (let start = 0; start < text.length; ) {
      // A pair cut in two would be written as two escaped halves.
      const end = pieceEnd(text, start);
      await this.add(JSON.stringify(text.slice(start, end)).slice(1, -1));
      start = end;
    }
    await this.add('"');
  }

  end(): JsonBytes {
    if (this.waiting !== '') this.push(Buffer.from(this.waiting, 'utf8'));
    return { pieces: this.pieces, bytes: this.bytes };
  }

  private push(piece: Buffer): void {
    this.pieces.push(piece);
    this.bytes += piece.length;
  }
}

/** Where the piece of `text` from `start` ends: PIECE_CHARACTERS on, or one fewer so as not to cut a surrogate pair. */
function pieceEnd(text: string, start: number): number {
  const end = Math.min(start + PIECE_CHARACTERS, text.length);
  return end < text.length && isHighSurrogate(text.charCodeAt(end - 1)) ? end - 1 : end;
}

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}
