import { describe, expect, it } from 'vitest';
import { BoundedLabel } from '../../src/metrics.js';
import { heldLive } from '../support/held-memory.js';

const MiB = 1024 ** 2;

describe('BoundedLabel', () => {
  it('keeps the names it has given series of cut short, however long they came', () => {
    const label = new BoundedLabel(50);
    const before = heldLive();
    // 50 names of a MiB each: 50 MiB were they kept whole.
    const values = Array.from({ length: 50 }, (_, i) => label.of(`${i}-${'m'.repeat(MiB)}`));
    expect(heldLive() - before).toBeLessThan(4 * MiB);
    expect(values[7]).toBe(`7-${'m'.repeat(98)}`);
    expect(label.of(`7-${'m'.repeat(MiB)}`)).toBe(values[7]);
    expect(label.of('one more')).toBe('other');
  });

  it('cuts a name to its first 100 characters, not UTF-16 units', () => {
    expect(new BoundedLabel(1).of('😀'.repeat(300))).toBe('😀'.repeat(100));
  });
});
