// One short field of an ErrorResponse read as its body comes, whatever the chunks, keeping none of its other fields.

import { describe, expect, it } from 'vitest';
import { ErrorFieldReader, readErrorField } from '../../proxy/backend-read.js';
import { errorResponseOf } from '../../proxy/backend-write.js';

function severityIn(fields: Array<[string, string]>, size: number): string {
  const body = errorResponseOf(new Map(fields)).subarray(5);
  const reader = new ErrorFieldReader('V');
  for (let offset = 0; offset < body.length; offset += size) reader.read(body.subarray(offset, offset + size));
  reader.end();
  return reader.value;
}

describe('ErrorFieldReader', () => {
  it.each([1, 2, 3, 7, 10_000])('reads the V field in chunks of %i bytes', (size) => {
    const fields: Array<[string, string]> = [['S', 'FATAL'], ['V', 'FATAL'], ['C', '57P01'], ['M', 'V'.repeat(100)]];
    expect(severityIn(fields, size)).toBe('FATAL');
    expect(severityIn([['M', 'x'.repeat(50)], ['V', 'ERROR'], ['C', '22012']], size)).toBe('ERROR');
  });

  it('is empty without a V field, and keeps only the start of an overlong one', () => {
    expect(severityIn([['S', 'FEHLER'], ['C', '42601'], ['M', 'VFATAL']], 4)).toBe('');
    expect(severityIn([['V', 'P'.repeat(1000)]], 64)).toBe('P'.repeat(16));
  });

  it('reads a whole frame alike', () => {
    const frame = errorResponseOf(new Map([['S', 'PANIC'], ['V', 'PANIC'], ['C', 'XX000'], ['M', 'gone']]));
    expect(readErrorField(frame, 'V')).toBe('PANIC');
    expect(readErrorField(frame, 'C')).toBe('XX000');
  });
});
