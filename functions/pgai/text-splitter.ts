// The text splitters pgai's chunk_text and chunk_text_recursively run (LangChain's CharacterTextSplitter and
// RecursiveCharacterTextSplitter, langchain-text-splitters 0.3, as pgai pins it), with their defaults, so chunks
// come out as pgai's do. Lengths count characters (code points), as Python's len does. A regular expression as
// separator is JavaScript's, which agrees with Python's on the common syntax; V8 runs it by backtracking, with no
// bound on its time, so a split by one runs only where it can be stopped (cut-text.ts). A literal separator is found
// by plain string search, in time linear in the text.

import { PgError } from '../../proxy/pg-error.js';

export interface SplitterOptions {
  chunkSize: number;
  chunkOverlap: number;
  isSeparatorRegex: boolean;
  /** Where a separator stays: false (dropped), or at the start of the piece after it. */
  keepSeparator: boolean;
}

export const DEFAULT_CHUNK_SIZE = 4000;
export const DEFAULT_CHUNK_OVERLAP = 200;
export const DEFAULT_SEPARATOR = '\n\n';
export const DEFAULT_SEPARATORS = ['\n\n', '\n', ' ', ''];
/** The longest text cut, in characters: the splitters run on the event loop every session shares. */
export const MAX_INPUT = 2 * 1024 * 1024;
/** The most characters of a text's chunks together, as a multiple of its own and in all: an overlap close to the
 * chunk size repeats most of each chunk in the next, and the chunks could grow with the square of the text. */
export const MAX_OUTPUT_FACTOR = 10;
export const MAX_OUTPUT = 8 * MAX_INPUT;

/** A text whose chunks would be too long together; refused before they are built. */
export class TooManyChunks extends PgError {}

/** The splitter's checks of its sizes, with LangChain's message for an overlap larger than the chunk. */
export function checkSizes({ chunkSize, chunkOverlap }: SplitterOptions): void {
  if (!(chunkSize > 0)) throw new PgError('22023', `chunk_size must be > 0, got ${chunkSize}`);
  if (!(chunkOverlap >= 0)) throw new PgError('22023', `chunk_overlap must be >= 0, got ${chunkOverlap}`);
  if (chunkOverlap > chunkSize) throw new PgError('22023', `Got a larger chunk overlap (${chunkOverlap}) than chunk size (${chunkSize}), should be smaller.`);
}

/** A text and how to cut it: by one separator (chunk_text), or by the first of several that serves (chunk_text_recursively). */
export interface Cut {
  text: string;
  separators: string | string[];
  options: SplitterOptions;
}

export function cut({ text, separators, options }: Cut): string[] {
  return typeof separators === 'string' ? splitByCharacter(text, separators, options) : splitRecursively(text, separators, options);
}

/** CharacterTextSplitter.split_text: pieces between separators, merged up to the chunk size. */
function splitByCharacter(text: string, separator: string, options: SplitterOptions): string[] {
  const splits = pieces(text, separator, options);
  return mergeSplits(splits, options.keepSeparator ? '' : separator, options, outputBudget(text));
}

/** RecursiveCharacterTextSplitter.split_text: by the first separator the text has, pieces too long by the next ones. */
function splitRecursively(text: string, separators: string[], options: SplitterOptions, budget = outputBudget(text)): string[] {
  const chunks: string[] = [];
  let separator = separators.at(-1) ?? '';
  let rest: string[] = [];
  for (const [i, candidate] of separators.entries()) {
    if (candidate === '') {
      separator = candidate;
      break;
    }
    if (occursIn(text, candidate, options.isSeparatorRegex)) {
      separator = candidate;
      rest = separators.slice(i + 1);
      break;
    }
  }
  const splits = pieces(text, separator, options);
  const joiner = options.keepSeparator ? '' : separator;
  let good: string[] = [];
  for (const split of splits) {
    if (length(split) < options.chunkSize) {
      good.push(split);
      continue;
    }
    if (good.length > 0) {
      append(chunks, mergeSplits(good, joiner, options, budget));
      good = [];
    }
    if (rest.length === 0) chunks.push(split);
    else append(chunks, splitRecursively(split, rest, options, budget));
  }
  if (good.length > 0) append(chunks, mergeSplits(good, joiner, options, budget));
  return chunks;
}

/** The characters a text's chunks may have together, and what is left of them. */
interface Budget {
  most: number;
  left: number;
}

function outputBudget(text: string): Budget {
  const most = Math.min(MAX_OUTPUT_FACTOR * text.length, MAX_OUTPUT);
  return { most, left: most };
}

/** push(...more) takes its items as arguments, on the stack: tens of thousands of chunks overflow it. */
function append(chunks: string[], more: string[]): void {
  for (const chunk of more) chunks.push(chunk);
}

function occursIn(text: string, separator: string, isRegex: boolean): boolean {
  return isRegex ? withRegex(separator, (regex) => regex.test(text)) : text.includes(separator);
}

/** The pieces of the text between occurrences of the separator, a kept separator starting the piece after it; no empty ones. */
function pieces(text: string, separator: string, { isSeparatorRegex, keepSeparator }: SplitterOptions): string[] {
  let splits: string[];
  if (separator === '') splits = Array.from(text);
  else if (!isSeparatorRegex) splits = text.split(separator).map((part, i) => (keepSeparator && i > 0 ? separator + part : part));
  else if (!keepSeparator) splits = withRegex(separator, (regex) => text.split(regex));
  else {
    // The split has each match, captured, between the pieces.
    const parts = withRegex(`(${separator})`, (regex) => text.split(regex));
    splits = [parts[0]!];
    for (let i = 1; i < parts.length; i += 2) splits.push(parts[i]! + (parts[i + 1] ?? ''));
  }
  return splits.filter((split) => split !== '');
}

/**
 * The caller's regular expression in use; V8 checks its syntax at once, and its size when it first runs it. Its
 * error says "Invalid regular expression: /<the pattern>/u: <why>", of which the message keeps why, as PostgreSQL's.
 */
function withRegex<T>(source: string, use: (regex: RegExp) => T): T {
  try {
    return use(new RegExp(source, 'u'));
  } catch (error) {
    if (!(error instanceof SyntaxError)) throw error;
    throw new PgError('2201B', `invalid regular expression: ${error.message.slice(error.message.lastIndexOf(': ') + 2)}`);
  }
}

/** Pieces joined by the separator into chunks of at most chunk_size, each repeating up to chunk_overlap of the last. */
function mergeSplits(splits: string[], separator: string, { chunkSize, chunkOverlap }: SplitterOptions, budget: Budget): string[] {
  const separatorLength = length(separator);
  const chunks: string[] = [];
  // The pieces of the chunk being built are splits[first] up to splits[next - 1].
  let first = 0;
  let total = 0;
  const joined = (next: number): void => {
    budget.left -= total;
    if (budget.left < 0) {
      throw new TooManyChunks('54000', `the chunks of the text would have more than ${budget.most} characters together (${MAX_OUTPUT_FACTOR} times the text's, at most ${MAX_OUTPUT})`, {
        hint: 'Lower chunk_overlap: each chunk repeats up to chunk_overlap characters of the one before.',
      });
    }
    const chunk = splits.slice(first, next).join(separator).trim();
    if (chunk !== '') chunks.push(chunk);
  };
  for (let next = 0; next < splits.length; next++) {
    const splitLength = length(splits[next]!);
    const grown = (): number => total + splitLength + (next > first ? separatorLength : 0);
    if (grown() > chunkSize && next > first) {
      joined(next);
      // Drop pieces from the front until what is left is at most the overlap and the next piece fits beside it.
      while (total > chunkOverlap || (grown() > chunkSize && total > 0)) {
        total -= length(splits[first]!) + (next - first > 1 ? separatorLength : 0);
        first++;
      }
    }
    total += splitLength + (next > first ? separatorLength : 0);
  }
  joined(splits.length);
  return chunks;
}

/** Characters as Python counts them: code points. */
function length(text: string): number {
  return /[\uD800-\uDFFF]/.test(text) ? Array.from(text).length : text.length;
}
