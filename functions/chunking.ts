// How pg_llm_add_knowledge cuts a document into chunks: windows of at most chunk_size characters (code points, as
// PostgreSQL's length() counts them, so no character is cut in two), each starting chunk_overlap characters before
// the previous one ended, and ending after a whitespace where one falls late enough in the window, so that words
// stay whole where they can.

import { PgError } from '../proxy/pg-error.js';

const DEFAULT_CHUNK_SIZE = 1000;
/** Chunks one document may have: beyond this a document is refused before anything is embedded. */
export const MAX_CHUNKS = 10_000;

export interface ChunkOptions {
  size: number;
  overlap: number;
}

/** chunk_size and chunk_overlap from the options; the overlap defaults to a tenth of the size. */
export function chunkOptions(options: Record<string, unknown>): ChunkOptions {
  const size = options.chunk_size ?? DEFAULT_CHUNK_SIZE;
  if (!Number.isInteger(size) || (size as number) < 1) throw invalid('chunk_size must be a positive whole number of characters');
  const overlap = options.chunk_overlap ?? Math.floor((size as number) / 10);
  if (!Number.isInteger(overlap) || (overlap as number) < 0) throw invalid('chunk_overlap must be a whole number of characters, 0 or more');
  if ((overlap as number) >= (size as number)) throw invalid(`chunk_overlap (${String(overlap)}) must be smaller than chunk_size (${String(size)})`);
  return { size: size as number, overlap: overlap as number };
}

export function chunkText(text: string, { size, overlap }: ChunkOptions): string[] {
  const chunks: string[] = [];
  let start = 0;
  while (start < text.length) {
    if (chunks.length === MAX_CHUNKS) {
      throw new PgError('54000', `the document has more than ${MAX_CHUNKS} chunks of ${size} characters`, {
        hint: 'Raise chunk_size, or add the document in parts.',
      });
    }
    let end = start;
    let breakAt = -1;
    for (let count = 1; count <= size && end < text.length; count++) {
      const character = String.fromCodePoint(text.codePointAt(end)!);
      end += character.length;
      // A break that leaves at least the overlap behind, so that the next chunk starts further on.
      if (count > overlap && count > size / 2 && /\s/.test(character)) breakAt = end;
    }
    const cut = end < text.length && breakAt > 0 ? breakAt : end;
    chunks.push(text.slice(start, cut));
    if (cut === text.length) break;
    start = back(text, cut, overlap);
  }
  return chunks;
}

/** The position `count` characters before `position`. */
function back(text: string, position: number, count: number): number {
  let at = position;
  for (let i = 0; i < count; i++) {
    at--;
    const code = text.charCodeAt(at);
    if (code >= 0xdc00 && code <= 0xdfff && at > 0) {
      const previous = text.charCodeAt(at - 1);
      if (previous >= 0xd800 && previous <= 0xdbff) at--;
    }
  }
  return at;
}

function invalid(message: string): PgError {
  return new PgError('22023', `invalid knowledge options: ${message}`);
}
