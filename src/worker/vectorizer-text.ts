// What a vectorizer embeds of a row, as pgai's worker makes it: the loaded column's text cut by the chunking config
// (the splitters of ai.chunk_text and ai.chunk_text_recursively), each chunk put into the formatting template, a
// Python string.Template where $chunk is the chunk and $column (or ${column}) a value of the row. This runs in the
// proxy, for rows anyone who may insert into the table writes, the cut at once or in a thread with a time limit
// (cut-text.ts): a row too big to cut in a moment (ai.chunk_text's bound), whose cut takes longer than the limit, or
// cut into too many chunks or too much text, is refused (RowRefused), for good, rather than cut at every retry.

import { CutTooSlow, cutText } from '../../functions/pgai/cut-text.js';
import { MAX_INPUT, TooManyChunks, type SplitterOptions } from '../../functions/pgai/text-splitter.js';
import { PgError } from '../../proxy/pg-error.js';
import type { Asker } from '../providers/asker.js';

/** The most chunks of one row, and the most characters of their formatted texts together. */
export const MAX_CHUNKS = 50_000;
export const MAX_FORMATTED = 8 * MAX_INPUT;

/** A row the worker does not embed, whatever the retry: its text is too large. */
export class RowRefused extends PgError {}

export interface VectorizerConfig {
  /** ai.loading_column's or ai.loading_uri's (implementation 'uri': the column holds a document's URI). */
  loading: { implementation?: string; column_name: string; retries?: number };
  chunking: { implementation: string; chunk_size?: number; chunk_overlap?: number; separator?: string; separators?: string[]; is_separator_regex?: boolean };
  formatting: { template: string };
  embedding: Record<string, unknown> & { implementation: string; model: string; dimensions: number };
  /** processing_default's, and the proxy's batch_api (worker/vectorizer-batches.ts). */
  processing?: { batch_size?: unknown; concurrency?: unknown; batch_api?: unknown };
  indexing?: { implementation: string };
  destination: { implementation?: string; target_schema?: string; target_table?: string; embedding_column?: string };
}

export interface Chunk {
  seq: number;
  chunk: string;
  /** The text embedded: the chunk in the template. */
  formatted: string;
}

/**
 * The chunks of a row, numbered from 0; none when its text is NULL or blank. Throws RowRefused for a row too large.
 * A cut in a thread takes the turn of the vectorizer's owner (asker), and stops when `signal` aborts.
 */
export async function rowChunks(config: VectorizerConfig, row: Record<string, unknown>, asker: Asker, signal: AbortSignal): Promise<Chunk[]> {
  const value = row[config.loading.column_name];
  if (value === null || value === undefined) return [];
  const text = String(value);
  const column = config.loading.column_name;
  if (text.length > MAX_INPUT) throw tooLong(config);
  if (text.trim() === '') return [];
  const pieces = await cut(config.chunking, text, asker, signal);
  if (pieces.length > MAX_CHUNKS) refuse(`its ${column} is cut into more than ${MAX_CHUNKS} chunks`);
  const chunks: Chunk[] = [];
  let formattedLength = 0;
  for (const [seq, chunk] of pieces.entries()) {
    const formatted = substitute(config.formatting.template, { ...row, chunk });
    formattedLength += formatted.length;
    if (formattedLength > MAX_FORMATTED) refuse(`its chunks, formatted, are longer than ${MAX_FORMATTED} characters`);
    chunks.push({ seq, chunk, formatted });
  }
  return chunks;
}

function refused(why: string): RowRefused {
  return new RowRefused('54000', `the row is not embedded: ${why}`, { hint: 'Store a shorter text, or cut it into rows of its own, then write the row again.' });
}

function refuse(why: string): never {
  throw refused(why);
}

/** The refusal of a row whose loaded text is longer than MAX_INPUT characters. */
export function tooLong(config: VectorizerConfig): RowRefused {
  return refused(`its ${config.loading.column_name} is longer than ${MAX_INPUT} characters`);
}

async function cut(chunking: VectorizerConfig['chunking'], text: string, asker: Asker, signal: AbortSignal): Promise<string[]> {
  if (chunking.implementation === 'none') return [text];
  const options: SplitterOptions = {
    chunkSize: chunking.chunk_size ?? 800,
    chunkOverlap: chunking.chunk_overlap ?? 400,
    isSeparatorRegex: chunking.is_separator_regex === true,
    keepSeparator: chunking.implementation === 'recursive_character_text_splitter',
  };
  const separators = chunking.implementation === 'character_text_splitter' ? (chunking.separator ?? '\n\n') : (chunking.separators ?? ['\n\n', '\n', '.', '?', '!', ' ', '']);
  try {
    return await cutText({ text, separators, options }, async () => asker, signal);
  } catch (error) {
    if (error instanceof TooManyChunks || error instanceof CutTooSlow) refuse(error.message);
    throw error;
  }
}

/** A placeholder of a Python string.Template: $$, $name or ${name}. */
const PLACEHOLDER = /\$(?:(\$)|([_a-z][_a-z0-9]*)|\{([_a-z][_a-z0-9]*)\})/gi;

/** The names the template's placeholders take values of. */
export function templateNames(template: string): string[] {
  return [...template.matchAll(PLACEHOLDER)].flatMap(([, , bare, braced]) => bare ?? braced ?? []);
}

/** Python's Template.safe_substitute: $$ is $, a placeholder without a value stays as it is. */
export function substitute(template: string, values: Record<string, unknown>): string {
  return template.replace(PLACEHOLDER, (whole, dollar: string | undefined, bare: string | undefined, braced: string | undefined) => {
    if (dollar) return '$';
    const name = (bare ?? braced)!;
    return Object.hasOwn(values, name) ? pythonText(values[name]) : whole;
  });
}

/** A value as Python's str() writes the one pgai's worker gets from the row. */
function pythonText(value: unknown): string {
  if (value === null || value === undefined) return 'None';
  if (typeof value === 'boolean') return value ? 'True' : 'False';
  return typeof value === 'string' ? value : typeof value === 'number' ? String(value) : JSON.stringify(value);
}
