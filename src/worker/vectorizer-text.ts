// What a vectorizer embeds of a row, as pgai's worker makes it: the loaded column's text cut by the chunking config
// (the splitters of ai.chunk_text and ai.chunk_text_recursively), each chunk put into the formatting template, a
// Python string.Template where $chunk is the chunk and $column (or ${column}) a value of the row.

import { splitByCharacter, splitRecursively, type SplitterOptions } from '../../functions/pgai/text-splitter.js';

export interface VectorizerConfig {
  loading: { column_name: string; retries?: number };
  chunking: { implementation: string; chunk_size?: number; chunk_overlap?: number; separator?: string; separators?: string[]; is_separator_regex?: boolean };
  formatting: { template: string };
  embedding: Record<string, unknown> & { implementation: string; model: string; dimensions: number };
  processing?: { batch_size?: number };
  destination: { target_schema: string; target_table: string };
}

export interface Chunk {
  seq: number;
  chunk: string;
  /** The text embedded: the chunk in the template. */
  formatted: string;
}

/** The chunks of a row, numbered from 0; none when its text is NULL or blank. */
export function rowChunks(config: VectorizerConfig, row: Record<string, unknown>): Chunk[] {
  const text = row[config.loading.column_name];
  if (text === null || text === undefined || String(text).trim() === '') return [];
  return cut(config.chunking, String(text)).map((chunk, seq) => ({ seq, chunk, formatted: substitute(config.formatting.template, { ...row, chunk }) }));
}

function cut(chunking: VectorizerConfig['chunking'], text: string): string[] {
  if (chunking.implementation === 'none') return [text];
  const options: SplitterOptions = {
    chunkSize: chunking.chunk_size ?? 800,
    chunkOverlap: chunking.chunk_overlap ?? 400,
    isSeparatorRegex: chunking.is_separator_regex === true,
    keepSeparator: chunking.implementation === 'recursive_character_text_splitter',
  };
  return chunking.implementation === 'character_text_splitter'
    ? splitByCharacter(text, chunking.separator ?? '\n\n', options)
    : splitRecursively(text, chunking.separators ?? ['\n\n', '\n', '.', '?', '!', ' ', ''], options);
}

/** Python's Template.safe_substitute: $$ is $, a placeholder without a value stays as it is. */
export function substitute(template: string, values: Record<string, unknown>): string {
  return template.replace(/\$(?:(\$)|([_a-z][_a-z0-9]*)|\{([_a-z][_a-z0-9]*)\})/gi, (whole, dollar: string | undefined, bare: string | undefined, braced: string | undefined) => {
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
