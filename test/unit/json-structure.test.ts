// JSON text is counted before it is parsed on the event loop (src/json-structure.ts): strings skipped whole, whatever
// they hold, runs of whitespace and digits skipped as one, and the first limit crossed named.

import { describe, expect, it } from 'vitest';
import { exceededJsonLimit, parseWithinLimits } from '../../src/json-structure.js';
import { PgError } from '../../proxy/pg-error.js';

const limits = { depth: 3, containers: 5, values: 8, members: 4 };

describe('the count of JSON text', () => {
  it('skips strings whole, an escaped quote inside one, an escaped backslash ending one', () => {
    expect(exceededJsonLimit('["[[[[,,,,,,,,,{{{{", "a\\"[[[[,,,,", "b\\\\", 1]', limits)).toBeUndefined();
    expect(exceededJsonLimit('["b\\\\", [[[1]]]]', limits)).toBe('arrays and objects nested more than 3 deep');
  });

  it('skips runs of whitespace and of digits, counting what follows them', () => {
    const spaced = `[${' '.repeat(100_000)}1${'0'.repeat(100_000)} , ${'\n\t '.repeat(1000)}2]`;
    expect(exceededJsonLimit(spaced, limits)).toBeUndefined();
    expect(exceededJsonLimit(`[${'12345 ,'.repeat(8)}0]`, limits)).toBe('more than 8 values');
  });

  it('names the first limit crossed, of containers or values', () => {
    expect(exceededJsonLimit('[[],[],[],[],[]]', { ...limits, values: 100 })).toBe('more than 5 arrays and objects');
    expect(exceededJsonLimit('[0,0,0,0,0,0,0,0,0]', limits)).toBe('more than 8 values');
  });

  it('counts the members of objects, a colon in a string or a name not among them', () => {
    expect(exceededJsonLimit('{"a:b": ":", "c": 1, "d": 2, "e": "f:g"}', limits)).toBeUndefined();
    expect(exceededJsonLimit('{"a": {"b": 1, "c": 2}, "d": {"e": 3}}', limits)).toBe('more than 4 members of objects');
  });

  it('leaves malformed text to the parser', () => {
    expect(exceededJsonLimit('["unterminated', limits)).toBeUndefined();
    expect(() => parseWithinLimits('["unterminated', limits, () => new PgError('54000', 'refused'))).toThrow(SyntaxError);
  });

  it('parses text within the limits, and refuses other text in the words it is given', () => {
    expect(parseWithinLimits('{"a": [1, {"b": "c"}]}', limits, () => new PgError('54000', 'refused'))).toEqual({ a: [1, { b: 'c' }] });
    expect(() => parseWithinLimits('[[[[]]]]', limits, (exceeded) => new PgError('54000', `the text has ${exceeded}`))).toThrow('the text has arrays and objects nested more than 3 deep');
  });
});
