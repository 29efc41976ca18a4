// How many rows of arguments a statement asks for at a time: as many as fit its cap, and its role's, beside those
// it holds.

import { describe, expect, it } from 'vitest';
import { HeldArguments } from '../../src/intercept/argument-limits.js';
import { RoleBytes } from '../../src/intercept/role-bytes.js';

describe('HeldArguments', () => {
  const limits = { call: 100, statement: 1000 };
  const roomy = () => new RoleBytes(10_000).open('role');

  it("asks first for as many rows as fit if each took a call's cap, then by the biggest row seen", () => {
    const held = new HeldArguments(limits, roomy());
    expect(held.rowsThatFit(256)).toBe(10);
    held.take(10);
    expect(held.rowsThatFit(256)).toBe(99);
    expect(held.rowsThatFit(50)).toBe(50);
    held.take(400);
    expect(held.rowsThatFit(256)).toBe(1);
    held.take(400);
    expect(held.rowsThatFit(256)).toBe(0);
    expect(held.refusal(190)).toBeUndefined();
    expect(held.refusal(191)?.message).toMatch(/one statement's calls/);
  });

  it('asks for one row at least when it holds none, whatever the caps', () => {
    const held = new HeldArguments({ call: 5000, statement: 1000 }, roomy());
    expect(held.rowsThatFit(256)).toBe(1);
    held.take(600);
    held.release(600);
    expect(held.rowsThatFit(256)).toBe(1);
  });

  it("holds its rows in its role's account, beside the role's other statements, until it ends", () => {
    const role = new RoleBytes(1500);
    const [first, second] = [new HeldArguments(limits, role.open('role')), new HeldArguments(limits, role.open('role'))];
    first.take(900);
    expect(second.rowsThatFit(256)).toBe(6);
    expect(second.refusal(601)?.message).toMatch(/login role's statements/);
    expect(new HeldArguments(limits, role.open('other')).refusal(1000)).toBeUndefined();
    first.end();
    expect(role.keptBy('role')).toBe(0);
    expect(second.refusal(1000)).toBeUndefined();
  });
});
