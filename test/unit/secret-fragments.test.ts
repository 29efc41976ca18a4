import { describe, expect, it } from 'vitest';
import { FRAGMENT_LENGTH, SecretFragments } from '../../src/crypto/secret-fragments.js';

const KEY = 'sk-live-0123456789abcdefXYZ-ghijklmnop';

/** True when `text` holds a fragment of `secret`: FRAGMENT_LENGTH characters of it in a row. */
function holdsFragment(text: string, secret: string): boolean {
  for (let start = 0; start + FRAGMENT_LENGTH <= secret.length; start++) if (text.includes(secret.slice(start, start + FRAGMENT_LENGTH))) return true;
  return false;
}

describe('SecretFragments', () => {
  const fragments = new SecretFragments([KEY, 'short']);

  it('masks a whole copy, a copy missing characters at either end, and long pieces of it, and leaves other text', () => {
    expect(fragments.mask(`key ${KEY} here`)).toBe('key **** here');
    expect(fragments.mask(`bad key ${KEY.slice(0, -2)}.`)).toBe('bad key ****.');
    expect(fragments.mask(`(${KEY.slice(3, 3 + FRAGMENT_LENGTH)}) and ${KEY.slice(2, -3)}`)).toBe('(****) and ****');
    expect(fragments.mask('a short answer about sk-live keys')).toBe('a short answer about sk-live keys');
    expect(fragments.mask('')).toBe('');
  });

  // Review R7: a provider's error echoed the key upper-cased, and in base64 as Basic auth carries it.
  it('masks a secret echoed in upper or lower case, or base64-encoded wherever it starts in what is encoded', () => {
    expect(fragments.mask(`bad key ${KEY.toUpperCase()}`)).toBe('bad key ****');
    expect(fragments.mask(`bad key ${KEY.toLowerCase()}`)).toBe('bad key ****');
    for (const before of ['', 'u:', 'user:', 'Bearer ']) {
      const encoded = Buffer.from(`${before}${KEY}`).toString('base64');
      const masked = fragments.mask(`auth ${encoded} refused`);
      expect(masked, before).toContain('****');
      // What is left around the mask is at most a group of four on each side, which the neighbouring bytes decide too.
      expect(masked.replace('****', '').length, before).toBeLessThanOrEqual(`auth  refused`.length + 8 + 4);
    }
    expect(fragments.mask(Buffer.from('nothing of the key in here at all, really').toString('base64'))).not.toContain('****');
  });

  it('masks a secret echoed percent-encoded, form-encoded or JSON-escaped, as a query or a header carries it (review V2)', () => {
    const signature = 'SKECHOQ4k9Xr/2bV+qLm8TnZ4w/Hs7YpD1eFgJ+KuA0cR3xWvB5o=';
    const header = 'hdr-"quoted"-value\\with-backslash-0123456789';
    const of = new SecretFragments([signature, header]);
    const query = new URLSearchParams({ sig: signature }).toString();
    const escapedSlashes = JSON.stringify(signature).replaceAll('/', '\\/');
    const lowerHex = encodeURIComponent(signature).replace(/%[0-9A-F]{2}/g, (escape) => escape.toLowerCase());
    const echoes = [
      `Invalid URL (POST /v1/embeddings?sig=${encodeURIComponent(signature)})`,
      `?${query}`,
      JSON.stringify({ error: `bad header ${header}` }),
      `{"error": "bad key ${escapedSlashes}"}`,
      `?sig=${lowerHex}`,
      `?next=${encodeURIComponent(encodeURIComponent(signature))}`,
    ];
    for (const echo of echoes) {
      const masked = of.mask(echo);
      expect(masked, echo).toContain('****');
      for (const spelling of [signature, encodeURIComponent(signature), query.slice(4), JSON.stringify(header).slice(1, -1)]) expect(holdsFragment(masked, spelling), masked).toBe(false);
    }
  });

  it('answers no guess shorter than a fragment: a piece one character short of one comes back as it was', () => {
    const pieces = Array.from({ length: KEY.length - FRAGMENT_LENGTH + 2 }, (_, start) => KEY.slice(start, start + FRAGMENT_LENGTH - 1));
    expect(fragments.mask(pieces.join(' '))).toBe(pieces.join(' '));
  });

  it('masks a fragment split across streamed pieces, from the split on', () => {
    const text = `echo: ${KEY.slice(0, -2)} done`;
    for (let size = 1; size <= 30; size++) {
      const stream = fragments.stream();
      let out = '';
      for (let start = 0; start < text.length; start += size) out += stream.push(text.slice(start, start + size));
      expect(holdsFragment(out, KEY), `pieces of ${size}: ${out}`).toBe(false);
      expect(out.startsWith('echo: ') && out.endsWith(' done')).toBe(true);
    }
  });

  it('masks a secret shorter than a fragment only whole, and knows the credentials of a config', () => {
    const ofConfig = SecretFragments.of({ model_name: 'gpt-4o-mini-2024', auth_token: 'tok-9988776655' }, undefined);
    expect(ofConfig.mask('gpt-4o-mini-2024 said tok-9988776655, then tok-99887766')).toBe('gpt-4o-mini-2024 said ****, then tok-99887766');
    expect(new SecretFragments([undefined]).mask(KEY)).toBe(KEY);
  });

  it('masks a long text a turn at a time as it masks it at once, pieces at the turns\' edges included', async () => {
    const ofConfig = SecretFragments.of({ api_token: 'tok-9988776655', headers: { a: 'hdr-secret-value' } }, KEY);
    const filler = 'x'.repeat(64 * 1024 - 10);
    const text = [filler, KEY, filler, 'tok-9988776655', filler.slice(3), KEY.slice(1), filler, 'hdr-secret-value', 'end'].join('');
    const once = ofConfig.mask(text);
    expect(once).not.toBe(text);
    expect(holdsFragment(once, KEY) || once.includes('tok-9988776655') || once.includes('hdr-secret-value')).toBe(false);
    expect(await ofConfig.maskInTurns(text)).toBe(once);
  });

  it('masks a long streamed piece a turn at a time, a fragment across the turns included', async () => {
    const piece = `${'x'.repeat(64 * 1024 - 10)}${KEY} done`;
    const out = await fragments.stream().pushInTurns(piece);
    expect(holdsFragment(out, KEY)).toBe(false);
    expect(out.endsWith('**** done')).toBe(true);
  });
});
