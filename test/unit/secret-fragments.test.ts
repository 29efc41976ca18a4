import { describe, expect, it } from 'vitest';
import { SecretFragments } from '../../src/crypto/secret-fragments.js';

const KEY = 'sk-live-0123456789abcdefXYZ';

/** True when `text` holds 8 characters of `secret` in a row. */
function holdsFragment(text: string, secret: string): boolean {
  for (let start = 0; start + 8 <= secret.length; start++) if (text.includes(secret.slice(start, start + 8))) return true;
  return false;
}

describe('SecretFragments', () => {
  const fragments = new SecretFragments([KEY, 'short']);

  it('masks a whole copy, a copy missing characters at either end, and pieces of it, and leaves other text', () => {
    expect(fragments.mask(`key ${KEY} here`)).toBe('key **** here');
    expect(fragments.mask(`bad key ${KEY.slice(0, -2)}.`)).toBe('bad key ****.');
    expect(fragments.mask(`(${KEY.slice(3, 12)}) and ${KEY.slice(12, 20)}`)).toBe('(****) and ****');
    expect(fragments.mask('a short answer about sk-live keys')).toBe('a short answer about sk-live keys');
    expect(fragments.mask('')).toBe('');
  });

  it('masks a fragment split across streamed pieces, from the split on', () => {
    const text = `echo: ${KEY.slice(0, -2)} done`;
    for (let size = 1; size <= 9; size++) {
      const stream = fragments.stream();
      let out = '';
      for (let start = 0; start < text.length; start += size) out += stream.push(text.slice(start, start + size));
      expect(holdsFragment(out, KEY), `pieces of ${size}: ${out}`).toBe(false);
      expect(out.startsWith('echo: ') && out.endsWith(' done')).toBe(true);
    }
  });

  it('knows the credentials of a config, and masks nothing without secrets', () => {
    const ofConfig = SecretFragments.of({ model_name: 'gpt-4o-mini-2024', auth_token: 'tok-9988776655' }, undefined);
    expect(ofConfig.mask('gpt-4o-mini-2024 said tok-99887766')).toBe('gpt-4o-mini-2024 said ****');
    expect(new SecretFragments([undefined]).mask(KEY)).toBe(KEY);
  });
});
