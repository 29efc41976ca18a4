// How many rows of arguments a statement asks for at a time: as many as fit its cap beside those it holds.

import { describe, expect, it } from 'vitest';
import { HeldArguments } from '../../src/intercept/argument-limits.js';

describe('HeldArguments', () => {
  const limits = { call: 100, statement: 1000 };

  it("asks first for as many rows as fit if each took a call's cap, then by the biggest row seen", () => {
    const held = new HeldArguments(limits);
    expect(held.rowsThatFit(256)).toBe(10);
    held.take(10);
    expect(held.rowsThatFit(256)).toBe(99);
    expect(held.rowsThatFit(50)).toBe(50);
    held.take(400);
    expect(held.rowsThatFit(256)).toBe(1);
    held.take(400);
    expect(held.rowsThatFit(256)).toBe(0);
    expect(held.fits(190)).toBe(true);
    expect(held.fits(191)).toBe(false);
  });

  it('asks for one row at least when it holds none, whatever the caps', () => {
    const held = new HeldArguments({ call: 5000, statement: 1000 });
    expect(held.rowsThatFit(256)).toBe(1);
    held.take(600);
    held.release(600);
    expect(held.rowsThatFit(256)).toBe(1);
  });
});
