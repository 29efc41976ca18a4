import { serialize } from 'pg-protocol';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { mentionsFunction } from '../../src/intercept/analyze.js';
import { parseMentionsFunction } from '../../src/intercept/parse-mentions.js';

afterEach(() => vi.restoreAllMocks());

function searchesOf(run: () => void): number {
  const test = vi.spyOn(RegExp.prototype, 'test');
  run();
  const calls = test.mock.calls.length;
  test.mockRestore();
  return calls;
}

describe('the Parse frames remembered to name no intercepted function', () => {
  it('answer a repeat without searching it again', () => {
    const frame = serialize.parse({ text: 'SELECT abalance FROM pgbench_accounts WHERE aid = $1', types: [] });
    expect(parseMentionsFunction(frame)).toBe(false);
    expect(searchesOf(() => expect(parseMentionsFunction(Buffer.from(frame))).toBe(false))).toBe(0);
  });

  it('answer as the search does, for a frame that differs in its statement name or parameter types only', () => {
    const frames = [
      serialize.parse({ text: 'SELECT $1', types: [] }),
      serialize.parse({ name: 'pg_llm.master_key', text: 'SELECT $1', types: [] }),
      serialize.parse({ text: 'SELECT $1', types: [25] }),
      serialize.parse({ text: "SELECT pg_llm_chat('m', $1)", types: [] }),
    ];
    for (let round = 0; round < 2; round++) for (const frame of frames) expect(parseMentionsFunction(frame)).toBe(mentionsFunction(frame));
    expect(parseMentionsFunction(frames[3]!)).toBe(true);
  });

  it('keep the last 1,024, and search a frame again once it is pushed out', () => {
    const frame = (i: number) => serialize.parse({ text: `SELECT ${i}`, types: [] });
    for (let i = 0; i <= 1024; i++) parseMentionsFunction(frame(i));
    expect(searchesOf(() => parseMentionsFunction(frame(1024)))).toBe(0);
    expect(searchesOf(() => parseMentionsFunction(frame(0)))).toBeGreaterThan(0);
  });

  it('search a frame over 2 KiB every time', () => {
    const frame = serialize.parse({ text: `SELECT '${'x'.repeat(3000)}'`, types: [] });
    parseMentionsFunction(frame);
    expect(searchesOf(() => parseMentionsFunction(frame))).toBeGreaterThan(0);
  });
});
