// An ErrorResponse or NoticeResponse read as its body comes, whatever the chunks, kept to a bounded frame.

import { describe, expect, it } from 'vitest';
import { CutReportReader, readErrorFields, REPORT_BYTES, REPORT_FIELD_BYTES } from '../../proxy/backend-read.js';
import { errorResponseOf } from '../../proxy/backend-write.js';
import { BackendMessage } from '../../proxy/protocol.js';

function cut(fields: Array<[string, string]>, size: number): Buffer {
  const body = errorResponseOf(new Map(fields)).subarray(5);
  const reader = new CutReportReader(BackendMessage.ErrorResponse);
  for (let offset = 0; offset < body.length; offset += size) reader.read(body.subarray(offset, offset + size));
  reader.end();
  return reader.frame();
}

describe('CutReportReader', () => {
  it.each([1, 3, 10_000])('gives back a small message as it was, in chunks of %i bytes', (size) => {
    const fields: Array<[string, string]> = [['S', 'ERROR'], ['V', 'ERROR'], ['C', '22012'], ['M', 'division by zéro'], ['F', 'int.c']];
    expect(cut(fields, size)).toEqual(errorResponseOf(new Map(fields)));
  });

  it('cuts each long field at a character, and keeps the fields after it', () => {
    const frame = cut([['V', 'ERROR'], ['M', '€'.repeat(REPORT_FIELD_BYTES)], ['F', 'int.c']], 4096);
    const fields = readErrorFields(frame);
    expect(fields.get('M')).toBe('€'.repeat(Math.floor(REPORT_FIELD_BYTES / 3)));
    expect(fields.get('F')).toBe('int.c');
    expect(frame.readInt32BE(1)).toBe(frame.length - 1);
  });

  it('keeps at most REPORT_BYTES of all its fields', () => {
    const long = 'x'.repeat(REPORT_FIELD_BYTES * 2);
    const frame = cut([['M', long], ['D', long], ['H', long], ['W', long], ['q', long], ['F', 'int.c']], 65_536);
    expect(frame.length).toBeLessThanOrEqual(REPORT_BYTES + 6);
    expect(readErrorFields(frame).get('M')).toHaveLength(REPORT_FIELD_BYTES);
  });
});
