import { describe, expect, it } from 'vitest';
import { chunkOptions, chunkText, MAX_CHUNK_SIZE, MAX_CHUNKS } from '../../functions/chunking.js';

describe('chunkText', () => {
  it('cuts windows of chunk_size characters that overlap by chunk_overlap, ending after a whitespace late in the window', () => {
    expect(chunkText('The quick brown fox jumps over the lazy dog again and again', { size: 20, overlap: 5 })).toEqual([
      'The quick brown fox ',
      ' fox jumps over the ',
      ' the lazy dog again ',
      'gain and again',
    ]);
  });

  it('cuts text without whitespace at chunk_size, and covers every character', () => {
    const text = 'abcdefghijklmnopqrstuvwxyz';
    const chunks = chunkText(text, { size: 10, overlap: 3 });
    expect(chunks).toEqual(['abcdefghij', 'hijklmnopq', 'opqrstuvwx', 'vwxyz']);
    expect(chunks.map((chunk, i) => (i === 0 ? chunk : chunk.slice(3))).join('')).toBe(text);
  });

  it('counts characters, not UTF-16 units, and never cuts one in two', () => {
    const chunks = chunkText('😀é😀é😀é😀é', { size: 3, overlap: 1 });
    expect(chunks).toEqual(['😀é😀', '😀é😀', '😀é😀', '😀é']);
    expect(chunks.every((chunk) => [...chunk].length <= 3 && !/[\ud800-\udbff]$/.test(chunk))).toBe(true);
  });

  it('keeps a short text whole, and always moves on even when most of a chunk is overlap', () => {
    expect(chunkText('short', { size: 1000, overlap: 100 })).toEqual(['short']);
    expect(chunkText('a b c d', { size: 2, overlap: 1 })).toEqual(['a ', ' b', 'b ', ' c', 'c ', ' d']);
  });

  it(`refuses a document of more than ${MAX_CHUNKS} chunks with 54000`, () => {
    expect(() => chunkText('x'.repeat(MAX_CHUNKS + 1), { size: 1, overlap: 0 })).toThrow(expect.objectContaining({ sqlstate: '54000' }));
    expect(chunkText('x'.repeat(MAX_CHUNKS), { size: 1, overlap: 0 })).toHaveLength(MAX_CHUNKS);
    // Before it is cut: each chunk can reach only one character further than the one before.
    expect(() => chunkText('x'.repeat(30_000), { size: 10_000, overlap: 9_999 })).toThrow(expect.objectContaining({ sqlstate: '54000' }));
  });
});

describe('chunkOptions', () => {
  it('defaults to 1000 characters overlapping by a tenth', () => {
    expect(chunkOptions({})).toEqual({ size: 1000, overlap: 100 });
    expect(chunkOptions({ chunk_size: 50 })).toEqual({ size: 50, overlap: 5 });
    expect(chunkOptions({ chunk_size: 50, chunk_overlap: 0 })).toEqual({ size: 50, overlap: 0 });
  });

  it('refuses sizes that are not whole numbers from 1 to MAX_CHUNK_SIZE and overlaps not below the size, with 22023', () => {
    for (const options of [{ chunk_size: 0 }, { chunk_size: -5 }, { chunk_size: 2.5 }, { chunk_size: '10' }, { chunk_overlap: -1 }, { chunk_size: 10, chunk_overlap: 10 }, { chunk_size: 10, chunk_overlap: 11 }, { chunk_size: MAX_CHUNK_SIZE + 1 }]) {
      expect(() => chunkOptions(options)).toThrow(expect.objectContaining({ sqlstate: '22023' }));
    }
  });
});
