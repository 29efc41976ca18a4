import { describe, expect, it } from 'vitest';
import { readBind, readParse } from '../../proxy/frontend-read.js';
import { parse } from '../../proxy/frontend-write.js';
import { SERVER_NAME_BYTES, serverName } from '../../proxy/server-names.js';
import { analyze } from '../../src/intercept/analyze.js';

const name = (text: string): string => serverName(Buffer.from(text));
/** The bytes PostgreSQL keys the object on. */
const key = (text: string): string => Buffer.from(text).subarray(0, SERVER_NAME_BYTES).toString('hex');

describe('statement and portal names as PostgreSQL knows them', () => {
  it('are whole up to 63 bytes, and cut to them past', () => {
    expect(name('s1')).toBe('s1');
    expect(name('n'.repeat(63))).toBe('n'.repeat(63));
    expect(name('n'.repeat(1024 * 1024))).toBe('n'.repeat(63));
    expect(name(`${'n'.repeat(61)}é€`)).toBe(`${'n'.repeat(61)}é`);
  });

  it('cut within a character are one name for all that share the 63 bytes, and none for those that do not', () => {
    // é (C3 A9) and ê (C3 AA) share the 63rd byte; ā (C4 81) does not (the server agrees: 42P05 for the first two).
    const [e, ee, a] = ['é', 'ê', 'ā'].map((c) => `${'n'.repeat(62)}${c}tail`);
    expect(name(e!)).toBe(name(ee!));
    expect(name(e!)).not.toBe(name(a!));
    expect(name(e!)).not.toBe('n'.repeat(62));
    // Sent back, the name begins with the same 63 bytes.
    for (const text of [e!, a!, `${'n'.repeat(61)}€x`, `${'n'.repeat(62)}€x`, `${'n'.repeat(62)}𝄞x`, `${'n'.repeat(61)}𝄞x`, `${'n'.repeat(60)}𝄞x`, `${'n'.repeat(62)}\u0800`, `${'n'.repeat(62)}\u{10000}`]) {
      expect(key(name(text)), text).toBe(key(text));
    }
  });

  it('are what the readers of Parse and Bind give', () => {
    expect(readParse(parse('p'.repeat(100), 'SELECT 1')).statement).toBe('p'.repeat(63));
    const bind = Buffer.from(`B\0\0\0\0${'q'.repeat(70)}\0${'s'.repeat(80)}\0\0\0\0\0\0\0`);
    bind.writeInt32BE(bind.length - 1, 1);
    expect(readBind(bind)).toMatchObject({ portal: 'q'.repeat(63), statement: 's'.repeat(63) });
  });

  it('are what the parser makes of a long identifier, which it cuts at a character', async () => {
    const { deallocations } = await analyze(`DEALLOCATE ${'n'.repeat(62)}éxyz`);
    expect(name(deallocations[0]!.name!)).toBe('n'.repeat(62));
  });
});
