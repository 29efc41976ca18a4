// ai.chunk_text and ai.chunk_text_recursively through psql, as a pgai user's script runs them: pgai's own test
// cases (its tests/test_chunk.py) give the same chunks, and the splitters' defaults, overlap and errors are theirs.

import { describe, expect, it } from 'vitest';
import { aiDatabase, pgaiSuite } from '../support/pgai.js';
import { psql } from '../support/psql.js';

const suite = pgaiSuite();
const WITCHES = 'if two witches watch two watches, which witch watches which watch?';

async function chunks(sql: string): Promise<string[]> {
  const { name } = await aiDatabase(suite);
  const result = await psql(['-F', '|', '-c', sql], { port: suite.proxy.port, database: name });
  if (result.status !== 0) throw new Error(result.stderr);
  return result.stdout.split('\n').filter((line) => line !== '');
}

describe('ai.chunk_text', () => {
  it("cuts pgai's test sentence at spaces into chunks of at most 10 characters", async () => {
    const rows = await chunks(`SELECT * FROM ai.chunk_text($$${WITCHES}$$, separator => ' ', chunk_size => 10, chunk_overlap => 0)`);
    expect(rows).toEqual(['0|if two', '1|witches', '2|watch two', '3|watches,', '4|which', '5|witch', '6|watches', '7|which', '8|watch?']);
  });

  it('splits at blank lines by default, each chunk repeating the last pieces up to the overlap', async () => {
    const rows = await chunks(`SELECT seq, replace(chunk, E'\\n', '/') FROM ai.chunk_text(E'aaa\\n\\nbbb\\n\\nccc\\n\\nddd', chunk_size => 10, chunk_overlap => 4)`);
    expect(rows).toEqual(['0|aaa//bbb', '1|bbb//ccc', '2|ccc//ddd']);
  });

  it('takes a regular expression as separator when asked, and refuses an overlap larger than the chunk', async () => {
    const rows = await chunks(`SELECT chunk FROM ai.chunk_text('a1b22c333d', separator => '[0-9]+', is_separator_regex => true, chunk_size => 1, chunk_overlap => 0)`);
    expect(rows).toEqual(['a', 'b', 'c', 'd']);
    const { name } = await aiDatabase(suite);
    const refused = await psql(['-c', `SELECT * FROM ai.chunk_text('x', chunk_size => 10, chunk_overlap => 20)`], { port: suite.proxy.port, database: name });
    expect(refused.status).not.toBe(0);
    expect(refused.stderr).toContain('Got a larger chunk overlap (20) than chunk size (10), should be smaller.');
    const tooLong = await psql(['-c', `SELECT count(*) FROM ai.chunk_text(repeat('x', 3000000))`], { port: suite.proxy.port, database: name });
    expect(tooLong.stderr).toContain('the text to chunk is longer than 2097152 characters');
  });
});

describe('ai.chunk_text_recursively', () => {
  it("cuts pgai's test sentence by the first separator it has, keeping each separator at the start of its piece", async () => {
    const rows = await chunks(`SELECT * FROM ai.chunk_text_recursively($$${WITCHES}$$, separators => array[' ', '.', '?'], chunk_size => 2, chunk_overlap => 0)`);
    expect(rows).toEqual(['0|if', '1| two', '2| witches', '3| watch', '4| two', '5| watches,', '6| which', '7| witch', '8| watches', '9| which', '10| watch', '11|?']);
  });

  it('by default: paragraphs, then lines, then words, with no chunk over the size', async () => {
    const text = 'First paragraph here.\\n\\nSecond one is a little longer than that.\\nIt has two lines.';
    const rows = await chunks(`SELECT chunk FROM ai.chunk_text_recursively(E'${text}', chunk_size => 30, chunk_overlap => 0)`);
    expect(rows).toEqual(['First paragraph here.', 'Second one is a little longer', 'than that.', 'It has two lines.']);
  });
});
