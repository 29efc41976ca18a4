// A DataRow read as it comes: its values whatever the chunks, and a row refused at a value's length let go from there.

import { describe, expect, it } from 'vitest';
import { dataRow } from '../../proxy/backend-write.js';
import { DataRowReader, type ValueCheck } from '../../proxy/data-row-reader.js';

/** Reads the body of a DataRow of `values` in chunks of `size` bytes; what the reader gave, and the checks it asked. */
function readRow(values: Array<string | null>, size: number, check: ValueCheck = () => true) {
  const body = dataRow(values.map((value) => (value === null ? null : Buffer.from(value)))).subarray(5);
  const asked: Array<[number, number]> = [];
  let row: Array<string | null> | undefined | 'not yet' = 'not yet';
  const reader = new DataRowReader(
    (column, length, before) => (asked.push([column, length]), check(column, length, before)),
    (values) => (row = values?.map((value) => value?.toString() ?? null)),
  );
  for (let offset = 0; offset < body.length; offset += size) reader.read(body.subarray(offset, offset + size));
  reader.end();
  return { row, asked };
}

describe('DataRowReader', () => {
  it.each([1, 2, 5, 1000])('gives every value, NULL and empty ones too, in chunks of %i bytes', (size) => {
    const { row, asked } = readRow(['first', null, '', 'x'.repeat(300)], size);
    expect(row).toEqual(['first', null, '', 'x'.repeat(300)]);
    expect(asked).toEqual([[0, 5], [1, -1], [2, 0], [3, 300]]);
  });

  it('tells each check the values before it, and asks no more once one refuses the row', () => {
    const seen: string[][] = [];
    const { row, asked } = readRow(['f', 'y'.repeat(50), 'z'], 7, (column, length, before) => {
      seen.push(before.map((value) => value!.toString()));
      return column !== 1 || length < 10;
    });
    expect(row).toBeUndefined();
    expect(asked).toEqual([[0, 1], [1, 50]]);
    expect(seen).toEqual([[], ['f']]);
  });
});
