// How pg_llm_add_knowledge cuts a document into chunks: windows of at most chunk_size characters (code points, as
// PostgreSQL's length() counts them, so no character is cut in two), each starting chunk_overlap characters before
// the previous one ended, and ending after a whitespace where one falls late enough in the window, so that words
// stay whole where they can. It runs on the event loop every session shares: the text is read once, front to back,
// and a document that must come out in too many chunks is refused before it is cut.

import { PgError } from '../proxy/pg-error.js';

const DEFAULT_CHUNK_SIZE = 1000;
/** The largest chunk_size: larger than any chunk worth finding by a search, and it bounds a document's chunks. */
export const MAX_CHUNK_SIZE = 10_000;
/** Chunks one document may have: beyond this a document is refused before anything is embedded. */
export const MAX_CHUNKS = 10_000;

export interface ChunkOptions {
  size: number;
  overlap: number;
}

/** chunk_size and chunk_overlap from the options; the overlap defaults to a tenth of the size. */
export function chunkOptions(options: Record<string, unknown>): ChunkOptions {
  const size = options.chunk_size ?? DEFAULT_CHUNK_SIZE;
  if (!Number.isInteger(size) || (size as number) < 1 || (size as number) > MAX_CHUNK_SIZE) {
    throw invalid(`chunk_size must be a whole number of characters from 1 to ${MAX_CHUNK_SIZE}`, 'Cut a longer passage into several chunks: search finds the chunk that matches.');
  }
  const overlap = options.chunk_overlap ?? Math.floor((size as number) / 10);
  if (!Number.isInteger(overlap) || (overlap as number) < 0) throw invalid('chunk_overlap must be a whole number of characters, 0 or more');
  if ((overlap as number) >= (size as number)) throw invalid(`chunk_overlap (${String(overlap)}) must be smaller than chunk_size (${String(size)})`, 'Each chunk starts chunk_size - chunk_overlap characters after the one before: keep chunk_overlap well below chunk_size.');
  return { size: size as number, overlap: overlap as number };
}

export function chunkText(text: string, { size, overlap }: ChunkOptions): string[] {
  // Each chunk reaches at most size - overlap characters further than the one before, so at least this many.
  const length = codePointCount(text);
  const fewest = length <= size ? 1 : 1 + Math.ceil((length - size) / (size - overlap));
  if (fewest > MAX_CHUNKS) throw tooMany(size);
  // A break must leave at least the overlap behind, so that the next chunk starts further on.
  const shortest = Math.floor(Math.max(overlap, size / 2));
  const chunks: string[] = [];
  // Positions in UTF-16 units and in characters: where the chunk starts, where its window ends, and just after the
  // last whitespace before that end. They only move on, so the text is walked twice, whatever the overlap.
  let [startUnit, startPoint, endUnit, endPoint, spaceUnit, spacePoint] = [0, 0, 0, 0, -1, -1];
  while (startUnit < text.length) {
    if (chunks.length === MAX_CHUNKS) throw tooMany(size);
    while (endPoint < startPoint + size && endUnit < text.length) {
      const code = text.charCodeAt(endUnit);
      endUnit += unitsAt(text, endUnit);
      endPoint++;
      if (isSpace(code)) [spaceUnit, spacePoint] = [endUnit, endPoint];
    }
    const breaks = endUnit < text.length && spacePoint > startPoint + shortest;
    const [cutUnit, cutPoint] = breaks ? [spaceUnit, spacePoint] : [endUnit, endPoint];
    chunks.push(text.slice(startUnit, cutUnit));
    if (cutUnit === text.length) break;
    for (; startPoint < cutPoint - overlap; startPoint++) startUnit += unitsAt(text, startUnit);
  }
  return chunks;
}

function codePointCount(text: string): number {
  if (!/[\uD800-\uDFFF]/.test(text)) return text.length;
  let count = 0;
  for (let unit = 0; unit < text.length; unit += unitsAt(text, unit)) count++;
  return count;
}

/** 2 where a surrogate pair starts, else 1. */
function unitsAt(text: string, unit: number): number {
  const high = text.charCodeAt(unit);
  if (high < 0xd800 || high > 0xdbff) return 1;
  const low = text.charCodeAt(unit + 1);
  return low >= 0xdc00 && low <= 0xdfff ? 2 : 1;
}

/** What /\s/ matches, without a regular expression per character. */
function isSpace(code: number): boolean {
  if (code <= 0xa0) return code === 0x20 || (code >= 0x09 && code <= 0x0d) || code === 0xa0;
  return code === 0x1680 || (code >= 0x2000 && code <= 0x200a) || code === 0x2028 || code === 0x2029 || code === 0x202f || code === 0x205f || code === 0x3000 || code === 0xfeff;
}

function tooMany(size: number): PgError {
  return new PgError('54000', `the document has more than ${MAX_CHUNKS} chunks of ${size} characters`, {
    hint: 'Raise chunk_size or lower chunk_overlap, or add the document in parts.',
  });
}

function invalid(message: string, hint?: string): PgError {
  return new PgError('22023', `invalid knowledge options: ${message}`, hint === undefined ? undefined : { hint });
}
