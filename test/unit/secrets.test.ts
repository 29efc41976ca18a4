import { describe, expect, it } from 'vitest';
import { isSealedText, isUnbound, masterKey, masterKeyOffLoop, open, openText, openUnbound, reseal, seal, sealedWith, sealText, SecretError, UnboundSecretError } from '../../src/crypto/secrets.js';
import { unboundBlob, unboundText } from '../support/earlier-version.js';

describe('secrets at rest', () => {
  const key = masterKey('correct horse battery staple');
  const other = masterKey('f'.repeat(64));
  const row = Buffer.from('database a, instance m, owner alice');

  it('round-trips, with a fresh nonce each time', () => {
    const first = seal('sk-live-123456', key, row);
    const second = seal('sk-live-123456', key, row);
    expect(first.equals(second)).toBe(false);
    expect(first.includes(Buffer.from('sk-live'))).toBe(false);
    expect(open(first, [other, key], row)).toBe('sk-live-123456');
    expect([sealedWith(first, key), sealedWith(first, other)]).toEqual([true, false]);
  });

  it('refuses a blob sealed with a key it does not have, and a tampered blob', () => {
    const blob = seal('secret', key, row);
    expect(() => open(blob, [other], row)).toThrowError(SecretError);
    const tampered = Buffer.from(blob);
    tampered[tampered.length - 1]! ^= 1;
    expect(() => open(tampered, [key], row)).toThrowError(/failed authentication/);
    expect(() => open(Buffer.from('junk'), [key], row)).toThrowError(/unknown format/);
  });

  it('opens a blob only for what it was bound to', () => {
    const blob = seal('secret', key, row);
    expect(() => open(blob, [key], Buffer.from('database a, instance m, owner mallory'))).toThrowError(/failed authentication/);
    expect(() => openUnbound(blob, [key])).toThrowError(/unknown format/);
  });

  it('refuses an unbound blob of an earlier version for use, opens it to bind it, and re-seals either kind bound', () => {
    const unbound = unboundBlob('secret', key);
    expect(isUnbound(unbound)).toBe(true);
    expect(() => open(unbound, [key], row)).toThrowError(UnboundSecretError);
    expect(openUnbound(unbound, [key])).toBe('secret');
    const rotated = reseal(unbound, [key], other, row);
    expect([isUnbound(rotated), sealedWith(rotated, other), open(rotated, [other], row)]).toEqual([false, true, 'secret']);
    const bound = reseal(seal('secret', key, row), [key], other, row);
    expect([sealedWith(bound, other), open(bound, [other], row)]).toEqual([true, 'secret']);
    expect(() => reseal(seal('secret', key, row), [key], other, Buffer.from('another row'))).toThrowError(/failed authentication/);
  });

  it('writes a sealed secret as text for config files, and reads it back and the texts of earlier versions', () => {
    const text = sealText('sk-live-123456', key);
    expect(text).toMatch(/^sealed:v2:[A-Za-z0-9+/]+=*$/);
    expect(isSealedText(text)).toBe(true);
    expect(isSealedText('sk-live-123456')).toBe(false);
    expect(openText(text, [key])).toBe('sk-live-123456');
    expect(openText(unboundText('sk-live-123456', key), [key])).toBe('sk-live-123456');
    expect(() => openText(text, [other])).toThrowError(SecretError);
    expect(() => openText('sealed:v9:AAAA', [key])).toThrowError(/unknown format/);
  });

  it("seals config-file texts for that purpose alone: one is no model's secret, and no model's secret is one", () => {
    const blob = Buffer.from(sealText('sk-live-123456', key).slice('sealed:v2:'.length), 'base64');
    expect(() => open(blob, [key], row)).toThrowError(/failed authentication/);
    expect(() => openText(`sealed:v2:${seal('sk-live-123456', key, row).toString('base64')}`, [key])).toThrowError(/failed authentication/);
  });

  it('takes 64 hex digits as the key itself', () => {
    expect(masterKey('ab'.repeat(32)).key).toEqual(Buffer.alloc(32, 0xab));
  });
});

describe('passphrases sessions SET', () => {
  const session = new AbortController().signal;

  it("are stretched one at a time, roles taking turns: one role's many leave libuv's threadpool to provider calls' DNS lookups, and another role's one waits for two of them", async () => {
    const finished: string[] = [];
    const derive = (role: string, i: number) => masterKeyOffLoop(`fresh ${role} ${i} ${Math.random()}`, role, session).then(() => void finished.push(role));
    const many = Array.from({ length: 6 }, (_, i) => derive('many', i));
    const one = derive('one', 0);
    await Promise.all([...many, one]);
    // One at a time, in turns: many's first two (the first ran before any waited), then one's. Four at once (the
    // threadpool's size) would have run many's first four before one's began.
    expect(finished.indexOf('one')).toBeLessThanOrEqual(2);
  });

  it("derives a passphrase SET in a role's several sessions at once only once, and again for another role", async () => {
    const text = `same ${Math.random()}`;
    const keys = await Promise.all([masterKeyOffLoop(text, 'a', session), masterKeyOffLoop(text, 'b', session), masterKeyOffLoop(text, 'a', session)]);
    expect(keys[2]).toBe(keys[0]);
    expect(keys[1]).not.toBe(keys[0]);
    expect(keys[1]).toEqual(keys[0]);
    expect(keys[0]).toEqual(masterKey(text));
  });

  it('waiting for its turn when its session ends, leaves the queue underived', async () => {
    const running = masterKeyOffLoop(`running ${Math.random()}`, 'other', session);
    const ended = new AbortController();
    const waiting = masterKeyOffLoop(`waiting ${Math.random()}`, 'departed', ended.signal);
    ended.abort(new Error('the session ended'));
    // Derived, it would resolve: the derivation ahead of it is not cancelled, and it waited for nothing else.
    await expect(waiting).rejects.toThrowError('the session ended');
    await running;
  });
});
