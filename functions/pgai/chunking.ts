// pgai's chunk_text and chunk_text_recursively (its sql/idempotent/020-chunk.sql): a text cut into chunks by
// separators, merged up to chunk_size characters with chunk_overlap repeated, numbered from 0, as pgai's text
// splitters cut it (text-splitter.ts). They run in the proxy, on the event loop every session shares: a text is
// cut in a few hundred milliseconds a megabyte at worst, and one over MAX_INPUT, or whose chunks would be too long
// together (text-splitter.ts), is refused rather than hold the others up.

import { PgError } from '../../proxy/pg-error.js';
import { declareFunction, type FunctionDeclaration } from '../declaration.js';
import { nullable } from './arguments.js';
import { checkSizes, DEFAULT_CHUNK_OVERLAP, MAX_INPUT, DEFAULT_CHUNK_SIZE, DEFAULT_SEPARATOR, DEFAULT_SEPARATORS, splitByCharacter, splitRecursively, type SplitterOptions } from './text-splitter.js';

const SCHEMA = 'ai';
const CHUNKS = { kind: 'table' as const, columns: [{ name: 'seq', type: 'bigint' }, { name: 'chunk', type: 'text' }] };

function options(args: Record<string, unknown>, keepSeparator: boolean): SplitterOptions {
  const chosen = {
    chunkSize: (args.chunk_size as number | null) ?? DEFAULT_CHUNK_SIZE,
    chunkOverlap: (args.chunk_overlap as number | null) ?? DEFAULT_CHUNK_OVERLAP,
    isSeparatorRegex: args.is_separator_regex === true,
    keepSeparator,
  };
  checkSizes(chosen);
  return chosen;
}

const numbered = (chunks: string[]) => chunks.map((chunk, seq) => ({ seq, chunk }));

/** The text to cut, or undefined for NULL. */
function input(args: Record<string, unknown>): string | undefined {
  if (args.input === null) return undefined;
  const text = String(args.input);
  if (text.length > MAX_INPUT) {
    throw new PgError('54000', `the text to chunk is longer than ${MAX_INPUT} characters`, { hint: 'Cut it in parts first (substring), and chunk each.' });
  }
  return text;
}

export const chunkingFunctions: FunctionDeclaration[] = [
  declareFunction({
    schema: SCHEMA,
    name: 'chunk_text',
    arguments: [
      { name: 'input', type: 'text' },
      nullable('chunk_size', 'integer'),
      nullable('chunk_overlap', 'integer'),
      nullable('separator', 'text'),
      { name: 'is_separator_regex', type: 'boolean', default: 'false' },
    ],
    result: CHUNKS,
    strict: false,
    description: 'The text in chunks between separators (default a blank line), up to chunk_size characters (pgai). No rows for a NULL text.',
    async run(args) {
      const text = input(args);
      const separator = (args.separator as string | null) ?? DEFAULT_SEPARATOR;
      return text === undefined ? [] : numbered(splitByCharacter(text, separator, options(args, false)));
    },
  }),
  declareFunction({
    schema: SCHEMA,
    name: 'chunk_text_recursively',
    arguments: [
      { name: 'input', type: 'text' },
      nullable('chunk_size', 'integer'),
      nullable('chunk_overlap', 'integer'),
      nullable('separators', 'text[]'),
      { name: 'is_separator_regex', type: 'boolean', default: 'false' },
    ],
    result: CHUNKS,
    strict: false,
    description: 'The text in chunks of up to chunk_size characters, cut at the first separator that serves: paragraphs, lines, words, characters (pgai). No rows for a NULL text.',
    async run(args) {
      const text = input(args);
      const separators = (args.separators as string[] | null) ?? DEFAULT_SEPARATORS;
      return text === undefined ? [] : numbered(splitRecursively(text, separators, options(args, true)));
    },
  }),
];
