import { describe, expect, it } from 'vitest';
import { serialize } from 'pg-protocol';
import { LastStatement } from '../../proxy/last-statement.js';

function noted(frame: Buffer): { text: string; whole: boolean } {
  const last = new LastStatement();
  last.note(frame);
  const { bytes, whole } = last.head!;
  return { text: bytes.toString('utf8'), whole };
}

describe('the last statement a session keeps', () => {
  it('is nothing before the first statement', () => {
    expect(new LastStatement().head).toBeUndefined();
  });

  it("is a Parse's text, after its statement's name", () => {
    expect(noted(serialize.parse({ name: 'P_1', text: 'SELECT $1::int', types: [23] }))).toEqual({ text: 'SELECT $1::int', whole: true });
  });

  it('is whole up to 1 KiB, and its first 1 KiB past that', () => {
    const exact = 'x'.repeat(1024);
    expect(noted(serialize.query(exact))).toEqual({ text: exact, whole: true });
    expect(noted(serialize.parse({ text: `${exact}y`, types: [] }))).toEqual({ text: exact, whole: false });
  });

  it('is the latest one, in place of a longer earlier one', () => {
    const last = new LastStatement();
    last.note(serialize.query('x'.repeat(500)));
    last.note(serialize.query('SELECT 1'));
    expect(last.head!.bytes.toString()).toBe('SELECT 1');
  });
});
