// What the vectorizer's worker embeds of a row (formatting and chunking as pgai's worker does them), and how it cuts
// a batch of chunks into requests: by the API's count, and by estimated tokens under OpenAI's per-request limit.

import { describe, expect, it } from 'vitest';
import { MAX_REQUEST_TOKENS, requestBatches } from '../../src/worker/vectorizer-embed.js';
import { RowRefused, rowChunks, substitute, type VectorizerConfig } from '../../src/worker/vectorizer-text.js';

const chunksOf = (config: VectorizerConfig, row: Record<string, unknown>) => rowChunks(config, row, 'alice', new AbortController().signal);

describe('formatting_python_template', () => {
  it("substitutes as Python's Template.safe_substitute", () => {
    const values = { chunk: 'text', title: 'T', n: 3, missing: null, flag: true };
    expect(substitute('$title: $chunk', values)).toBe('T: text');
    expect(substitute('${title}s $n $$5 $unknown ${nope} $missing $flag $', values)).toBe('Ts 3 $5 $unknown ${nope} None True $');
  });
});

describe("a row's chunks", () => {
  const config = (chunking: VectorizerConfig['chunking']): VectorizerConfig => ({
    loading: { column_name: 'body' },
    chunking,
    formatting: { template: '$id/$chunk' },
    embedding: { implementation: 'openai', model: 'm', dimensions: 3 },
    destination: { target_schema: 's', target_table: 't' },
  });

  it('are cut by the chunking config and formatted; a NULL text has none', async () => {
    const recursive = config({ implementation: 'recursive_character_text_splitter', chunk_size: 10, chunk_overlap: 0 });
    expect(await chunksOf(recursive, { id: 1, body: 'aaaa bbbb cccc' })).toEqual([
      { seq: 0, chunk: 'aaaa bbbb', formatted: '1/aaaa bbbb' },
      { seq: 1, chunk: 'cccc', formatted: '1/cccc' },
    ]);
    expect(await chunksOf(config({ implementation: 'none' }), { id: 2, body: 'whole text' })).toEqual([{ seq: 0, chunk: 'whole text', formatted: '2/whole text' }]);
    expect((await chunksOf(config({ implementation: 'character_text_splitter', chunk_size: 5, chunk_overlap: 0, separator: '|' }), { id: 3, body: 'ab|cd|efgh' })).map((chunk) => chunk.chunk)).toEqual(['ab|cd', 'efgh']);
    expect(await chunksOf(recursive, { id: 4, body: null })).toEqual([]);
  });

  it('of a text too long, too many or too long formatted are refused for good (RowRefused), the splitter never overflowing the stack', async () => {
    const recursive = (size: number) => config({ implementation: 'recursive_character_text_splitter', chunk_size: size, chunk_overlap: 0 });
    const refused = async (body: string, size: number, template = '$id/$chunk') => {
      try {
        await chunksOf({ ...recursive(size), formatting: { template } }, { id: 1, body, title: 'x'.repeat(1000) });
      } catch (error) {
        return error instanceof RowRefused ? error.message : `not refused: ${(error as Error).message}`;
      }
      return 'cut';
    };
    expect(await refused('x'.repeat(3 * 1024 * 1024), 800)).toMatch(/^the row is not embedded: its body is longer than 2097152 characters/);
    // Half a million chunks, once a RangeError from the splitter's push(...chunks).
    expect(await refused('x'.repeat(1024 * 1024), 2)).toMatch(/^the row is not embedded: its body is cut into more than 50000 chunks/);
    expect(await refused('x'.repeat(1024 * 1024), 40, '$title $chunk')).toMatch(/^the row is not embedded: its chunks, formatted, are longer than/);
    expect(await refused('x'.repeat(1024 * 1024), 40)).toBe('cut');
  });

  it('whose chunks would repeat most of each other are refused for good (RowRefused) before they are built', async () => {
    const overlapping = config({ implementation: 'character_text_splitter', chunk_size: 2000, chunk_overlap: 2000, separator: ' ' });
    await expect(chunksOf(overlapping, { id: 1, body: 'a '.repeat(4000) })).rejects.toThrow(RowRefused);
    await expect(chunksOf(overlapping, { id: 1, body: 'a '.repeat(4000) })).rejects.toThrow(/^the row is not embedded: the chunks of the text would have more than 80000 characters together/);
  });
});

describe('requests of a batch of chunks', () => {
  it('hold at most the count the API takes', () => {
    expect(requestBatches(['a', 'b', 'c', 'd', 'e'], 2)).toEqual([
      { start: 0, end: 2 },
      { start: 2, end: 4 },
      { start: 4, end: 5 },
    ]);
  });

  it('hold at most MAX_REQUEST_TOKENS estimated tokens (four characters a token), one text at least', () => {
    const quarter = 'x'.repeat(MAX_REQUEST_TOKENS); // MAX_REQUEST_TOKENS / 4 tokens
    const huge = 'y'.repeat(MAX_REQUEST_TOKENS * 5);
    expect(requestBatches([quarter, quarter, quarter, quarter, quarter, huge, 'z'], 2048)).toEqual([
      { start: 0, end: 4 },
      { start: 4, end: 5 },
      { start: 5, end: 6 },
      { start: 6, end: 7 },
    ]);
  });
});
