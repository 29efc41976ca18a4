import { describe, expect, it } from 'vitest';
import { isSealedText, masterKey, open, openText, redact, seal, sealedWith, sealText, SecretError } from '../../src/crypto/secrets.js';

describe('secrets at rest', () => {
  const key = masterKey('correct horse battery staple');
  const other = masterKey('f'.repeat(64));

  it('round-trips, with a fresh nonce each time', () => {
    const first = seal('sk-live-123456', key);
    const second = seal('sk-live-123456', key);
    expect(first.equals(second)).toBe(false);
    expect(first.includes(Buffer.from('sk-live'))).toBe(false);
    expect(open(first, [other, key])).toBe('sk-live-123456');
    expect([sealedWith(first, key), sealedWith(first, other)]).toEqual([true, false]);
  });

  it('refuses a blob sealed with a key it does not have, and a tampered blob', () => {
    const blob = seal('secret', key);
    expect(() => open(blob, [other])).toThrowError(SecretError);
    const tampered = Buffer.from(blob);
    tampered[tampered.length - 1]! ^= 1;
    expect(() => open(tampered, [key])).toThrowError(/failed authentication/);
    expect(() => open(Buffer.from('junk'), [key])).toThrowError(/unknown format/);
  });

  it('writes a sealed secret as text for config files, and reads it back', () => {
    const text = sealText('sk-live-123456', key);
    expect(text).toMatch(/^sealed:v1:[A-Za-z0-9+/]+=*$/);
    expect(isSealedText(text)).toBe(true);
    expect(isSealedText('sk-live-123456')).toBe(false);
    expect(openText(text, [key])).toBe('sk-live-123456');
    expect(() => openText(text, [other])).toThrowError(SecretError);
    expect(() => openText('sealed:v9:AAAA', [key])).toThrowError(/unknown format/);
  });

  it('takes 64 hex digits as the key itself', () => {
    expect(masterKey('ab'.repeat(32)).key).toEqual(Buffer.alloc(32, 0xab));
  });

  it('redacts to at most the last four characters', () => {
    expect(redact('sk-abcdefghijkl')).toBe('****ijkl');
    expect(redact('short')).toBe('****');
  });
});
