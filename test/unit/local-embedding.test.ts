// The built-in local embedding must rank a question's document first among unrelated ones, above the default
// enable_rag threshold (0.1), or offline knowledge search silently finds nothing.

import { describe, expect, it } from 'vitest';
import { localEmbedding } from '../../src/providers/local-embedding.js';

const documents = {
  vacuum: 'VACUUM reclaims storage occupied by dead tuples, so the space can be reused by new rows.',
  index: 'A B-tree index speeds up lookups and range scans on a column; CREATE INDEX builds one.',
  backup: 'pg_dump writes a consistent backup of one database to a file that pg_restore reads back.',
  replication: 'Streaming replication ships the write-ahead log to standby servers that replay it.',
  locks: 'Row-level locks taken by UPDATE and SELECT FOR UPDATE block other writers of the same rows until commit.',
  cats: 'Cats sleep most of the day on warm mats and window sills.',
};

const questions: [string, keyof typeof documents][] = [
  ['How does VACUUM reclaim space?', 'vacuum'],
  ['What makes lookups on a column faster?', 'index'],
  ['How do I back up a database to a file?', 'backup'],
  ['How are standby servers kept up to date?', 'replication'],
  ['Why is my update blocked by another writer?', 'locks'],
  ['Where do cats like sleeping?', 'cats'],
];

const cosine = (a: number[], b: number[]): number => a.reduce((sum, value, i) => sum + value * b[i]!, 0);

describe('localEmbedding', () => {
  it.each(questions)('ranks the document of "%s" first, above the enable_rag threshold', (question, expected) => {
    const query = localEmbedding(question);
    const ranked = Object.entries(documents)
      .map(([name, text]) => ({ name, similarity: cosine(query, localEmbedding(text)) }))
      .sort((a, b) => b.similarity - a.similarity);
    expect(ranked[0]!.name).toBe(expected);
    expect(ranked[0]!.similarity).toBeGreaterThan(0.1);
  });

  it('is deterministic, of unit length, and the same for words that differ only in their ending', () => {
    const vector = localEmbedding('Reclaiming stored spaces', 32);
    expect(vector).toHaveLength(32);
    expect(Math.hypot(...vector)).toBeCloseTo(1, 10);
    expect(localEmbedding('Reclaiming stored spaces', 32)).toEqual(vector);
    expect(cosine(localEmbedding('reclaims store space'), localEmbedding('reclaimed storing spaces'))).toBeGreaterThan(0.7);
  });

  it('gives a text without words the zero vector', () => {
    expect(localEmbedding('the of and ?', 8)).toEqual(new Array(8).fill(0));
  });
});
