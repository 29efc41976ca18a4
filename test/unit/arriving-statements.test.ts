// A big Query or Parse is judged as it arrives, a read at a time: the verdict must be the one the engine's tests give
// the whole frame, wherever the reads cut it.

import { serialize } from 'pg-protocol';
import { describe, expect, it } from 'vitest';
import { sqlBounds } from '../../proxy/frontend-read.js';
import { CURSOR_COMMANDS, DEALLOCATING_COMMANDS, mentionsFunction } from '../../src/intercept/analyze.js';
import { frameMentionsFunction, readArriving, SCANNED_ON_ARRIVAL_FROM, scannedOnArrival } from '../../src/intercept/arriving-statements.js';
import { LISTING_MARKER, mayListExtensions } from '../../src/intercept/extension-listing.js';
import { RESETTING_COMMANDS } from '../../src/intercept/secret-resets.js';

const ALL_COMMANDS = () => ({ cursor: true, deallocating: true, resetting: true });
const PAD = SCANNED_ON_ARRIVAL_FROM;

/** What fills a statement past SCANNED_ON_ARRIVAL_FROM: data, comments and code the reads cut anywhere. */
const FILLERS = [
  `/* ${'pg_llm_chat '.repeat(PAD / 12)} */`,
  `'${"it''s pg_llm_chat ".repeat(PAD / 18)}'`,
  `-- ${'x'.repeat(PAD)}\n`,
  `$body$ ${'fetch reset '.repeat(PAD / 12)} $body$`,
  `"${'a'.repeat(PAD)}"`,
  `E'${"\\\\\\' ".repeat(PAD / 4)}'`,
  `${'"", '.repeat(PAD / 4)}1`,
  `${'1 + '.repeat(PAD / 4)}1`,
];

const STATEMENTS = [
  (filler: string) => `SELECT pg_llm_chat('m', 'hi'), ${filler}`,
  (filler: string) => `SELECT ${filler}, pg_llm_chat('m', 'hi')`,
  (filler: string) => `SELECT 1 /* pg_llm_chat */, ${filler}`,
  (filler: string) => `SELECT 'a\\', ${filler}, pg_llm_chat('x') --'`,
  (filler: string) => `SET pg_llm.master_key = 'k'; SELECT ${filler}`,
  (filler: string) => `FETCH 1 FROM c; SELECT ${filler}`,
  (filler: string) => `SELECT ${filler}; DEALLOCATE ALL`,
  (filler: string) => `SELECT ${filler}; RESET ai.openai_api_key`,
  (filler: string) => `SELECT e.extname AS "Name" ${LISTING_MARKER} ${filler}`,
  (filler: string) => `SELECT U&"pg_llm_ch\\0061t"('m', 'x'), ${filler}`,
];

/** A deterministic run of read sizes, from a byte to beyond a slab's 64 KiB. */
function* readSizes(seed: number): Generator<number> {
  let state = seed;
  for (;;) {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    yield [1, 7, 4096, 65536, 100_000][state % 5]! + (state >>> 8) % 97;
  }
}

/** `frame` as the client's framer assembles it: a fresh buffer filled read by read, each read shown to the scan. */
function arrive(frame: Buffer, seed: number, commands = ALL_COMMANDS): Buffer {
  const assembled = Buffer.alloc(frame.length);
  const sizes = readSizes(seed);
  for (let filled = 0; filled < frame.length; ) {
    const to = Math.min(frame.length, filled + sizes.next().value!);
    frame.copy(assembled, filled, filled, to);
    filled = to;
    if (filled < frame.length) readArriving(assembled, filled, commands);
  }
  return assembled;
}

function wholeVerdict(frame: Buffer) {
  const bounds = sqlBounds(frame);
  return {
    mentionsFunction: mentionsFunction(frame),
    listing: mayListExtensions(frame),
    cursorCommand: CURSOR_COMMANDS.namedIn(frame, ...bounds),
    deallocating: DEALLOCATING_COMMANDS.namedIn(frame, ...bounds),
    resetting: RESETTING_COMMANDS.namedIn(frame, ...bounds),
  };
}

describe('a big statement judged as it arrives', () => {
  const frames = STATEMENTS.flatMap((statement) =>
    FILLERS.flatMap((filler) => [
      serialize.query(statement(filler)),
      // The statement's name and parameter types are no part of its text: a quote there opens nothing.
      serialize.parse({ name: "pg_llm_chat 'fetch", text: statement(filler), types: [0x27272727, 25] }),
    ]),
  );

  it('gets the verdict the whole frame gets, however the reads cut it', () => {
    let seed = 1;
    for (const frame of frames) {
      expect(frame.length).toBeGreaterThanOrEqual(SCANNED_ON_ARRIVAL_FROM);
      const assembled = arrive(frame, seed++);
      expect(scannedOnArrival(assembled), frame.subarray(0, 80).toString('latin1')).toEqual(wholeVerdict(frame));
      expect(frameMentionsFunction(assembled)).toBe(mentionsFunction(frame));
    }
  });

  it('finds what each kind of statement holds', () => {
    const verdict = (statement: number, filler: number) => scannedOnArrival(arrive(serialize.query(STATEMENTS[statement]!(FILLERS[filler]!)), statement))!;
    expect(verdict(0, 4).mentionsFunction).toBe(true);
    expect(verdict(1, 6).mentionsFunction).toBe(true);
    expect(verdict(2, 0).mentionsFunction).toBe(false);
    expect(verdict(4, 1).mentionsFunction).toBe(true);
    expect(verdict(5, 3)).toMatchObject({ cursorCommand: true, deallocating: false, resetting: false });
    expect(verdict(6, 2)).toMatchObject({ cursorCommand: false, deallocating: true });
    expect(verdict(7, 5)).toMatchObject({ resetting: true, cursorCommand: false });
    expect(verdict(8, 7).listing).toBe(true);
    expect(verdict(9, 0).mentionsFunction).toBe(true);
  });

  it('looks only for the commands it was asked to, leaving the rest to the whole frame', () => {
    const frame = arrive(serialize.query(STATEMENTS[5]!(FILLERS[0]!)), 3, () => ({ cursor: false, deallocating: true, resetting: false }));
    expect(scannedOnArrival(frame)).toMatchObject({ cursorCommand: undefined, deallocating: false, resetting: undefined });
  });

  it('leaves a small statement to be scanned whole', () => {
    const frame = serialize.query(`SELECT pg_llm_chat('m', '${'x'.repeat(PAD - 100)}')`);
    expect(readArriving(frame, 1000, ALL_COMMANDS)).toBe(false);
    expect(scannedOnArrival(frame)).toBeUndefined();
  });
});
