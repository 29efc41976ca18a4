// Big values pass through the proxy as the buffers they are: a DataRow of its own goes out in pieces, a big value one
// of them as it is, and a frame kept past its handler is copied only when it is a view of more memory than its own.

import { describe, expect, it } from 'vitest';
import { dataRow, dataRowPieces } from '../../proxy/backend-write.js';
import { keptBytes } from '../../proxy/framer.js';

describe('dataRowPieces', () => {
  const big = Buffer.alloc(200 * 1024, 'y');
  const values = [Buffer.from('id'), null, big, Buffer.alloc(0), Buffer.from('tail'), big];

  it("writes a DataRow's bytes, the same as dataRow's", () => {
    expect(Buffer.concat(dataRowPieces(values)).equals(dataRow(values))).toBe(true);
    expect(Buffer.concat(dataRowPieces([])).equals(dataRow([]))).toBe(true);
  });

  it('passes a big value on as the buffer it is, not a copy', () => {
    const pieces = dataRowPieces(values);
    expect(pieces.filter((piece) => piece === big)).toHaveLength(2);
    expect(pieces.reduce((bytes, piece) => bytes + (piece === big ? 0 : piece.length), 0)).toBeLessThan(100);
  });
});

describe('keptBytes', () => {
  it('keeps a buffer that is all of its memory as it is', () => {
    const frame = Buffer.allocUnsafeSlow(1000);
    expect(keptBytes(frame)).toBe(frame);
  });

  it('copies a view of more memory, which it would otherwise hold', () => {
    const read = Buffer.allocUnsafeSlow(64 * 1024).fill(7);
    const kept = keptBytes(read.subarray(10, 20));
    expect(kept.buffer).not.toBe(read.buffer);
    expect(kept.equals(read.subarray(10, 20))).toBe(true);
  });
});
