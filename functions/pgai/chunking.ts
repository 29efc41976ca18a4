// pgai's chunk_text and chunk_text_recursively (its sql/idempotent/020-chunk.sql): a text cut into chunks by
// separators, merged up to chunk_size characters with chunk_overlap repeated, numbered from 0, as pgai's text
// splitters cut it (text-splitter.ts). They run in the proxy, at once or in a thread with a time limit (cut-text.ts):
// a text over MAX_INPUT, or whose chunks would be too long together (text-splitter.ts), is refused.

import { PgError } from '../../proxy/pg-error.js';
import { declareFunction, type CallContext, type FunctionDeclaration } from '../declaration.js';
import { nullable } from './arguments.js';
import { cutText } from './cut-text.js';
import { checkSizes, DEFAULT_CHUNK_OVERLAP, MAX_INPUT, DEFAULT_CHUNK_SIZE, DEFAULT_SEPARATOR, DEFAULT_SEPARATORS, type SplitterOptions } from './text-splitter.js';

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

/** The text's chunks, numbered from 0; none for a NULL text. */
async function chunks(args: Record<string, unknown>, separators: string | string[], keepSeparator: boolean, context: CallContext) {
  const text = input(args);
  if (text === undefined) return [];
  const cut = await cutText({ text, separators, options: options(args, keepSeparator) }, context.asker, context.signal);
  return cut.map((chunk, seq) => ({ seq, chunk }));
}

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
    run: (args, context) => chunks(args, (args.separator as string | null) ?? DEFAULT_SEPARATOR, false, context),
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
    run: (args, context) => chunks(args, (args.separators as string[] | null) ?? DEFAULT_SEPARATORS, true, context),
  }),
];
