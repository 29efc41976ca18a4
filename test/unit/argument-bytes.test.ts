// A call's arguments parsed from the row's bytes, their long strings decoded once: the same value, and the same
// refusal, as the text decoded whole and parsed.

import { describe, expect, it } from 'vitest';
import { parsedArgumentJson } from '../../src/intercept/argument-limits.js';
import { parsedArgumentBytes } from '../../src/intercept/argument-bytes.js';

const long = (character: string) => character.repeat(70 * 1024);

describe('parsedArgumentBytes', () => {
  it.each([
    ['a long text argument', JSON.stringify(['m', long('q')])],
    ['long texts of several bytes a character', JSON.stringify([long('é'), long('字'), 'short', long('😀')])],
    ['a long text with escapes', JSON.stringify([`${long('x')}"\n\\`, long('y')])],
    ['long strings nested and as member names', JSON.stringify([{ [long('k')]: long('v'), __proto__: long('p') }, [[long('z')]], null, 1.5, true])],
    ['a member __proto__', '[{"__proto__": "' + long('p') + '"}]'],
    ['jsonb spacing', `["a", {"b" : "${long('c')}" }, "${long('d')}"  ]`],
    ['no long string', '["m", "hi", [1, 2]]'],
  ])('gives what parsing the decoded text gives: %s', (_, json) => {
    const value = parsedArgumentBytes(Buffer.from(json), 'f');
    expect(value).toEqual(parsedArgumentJson(json, 'f'));
    expect(JSON.stringify(value)).toBe(JSON.stringify(JSON.parse(json)));
  });

  it('refuses what parsing the decoded text refuses, long strings counting as any string', () => {
    const json = JSON.stringify([long('q'), ...Array.from({ length: 300_000 }, () => 0)]);
    expect(() => parsedArgumentBytes(Buffer.from(json), 'f')).toThrow(/more than 250000 values/);
  });
});
