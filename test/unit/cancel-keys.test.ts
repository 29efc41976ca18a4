// Sessions that share a process id: a backend's pid reused while the session that had it is still closing, and an
// upstream with one backend for every session (PGlite reports pid 42 to all).

import { describe, expect, it } from 'vitest';
import { CancelKeys, type Cancellable } from '../../proxy/cancel-keys.js';

function session(user = 'alice'): Cancellable {
  return { user, cancel() {}, cancelModelCalls() {} };
}

describe('cancel keys of sessions with the same process id', () => {
  it('each session gets its own secret, and a CancelRequest finds only the session whose secret it carries', () => {
    const keys = new CancelKeys();
    const [closing, reusing] = [session(), session()];
    const first = keys.issue(closing, 42, 4);
    const second = keys.issue(reusing, 42, 4);
    expect(first.equals(second)).toBe(false);
    expect(keys.find(42, first)).toBe(closing);
    expect(keys.find(42, second)).toBe(reusing);
    expect(keys.find(43, first)).toBeUndefined();
    expect(keys.sessions(42)).toEqual([closing, reusing]);
  });

  it('releasing one session leaves the other session with that pid keyed', () => {
    const keys = new CancelKeys();
    const [closing, reusing] = [session(), session()];
    const old = keys.issue(closing, 42, 4);
    const current = keys.issue(reusing, 42, 4);
    keys.release(42, closing);
    expect(keys.find(42, old)).toBeUndefined();
    expect(keys.find(42, current)).toBe(reusing);
    expect(keys.sessions(42)).toEqual([reusing]);
    keys.release(42, reusing);
    expect(keys.sessions(42)).toEqual([]);
  });

  it('a secret is never shorter than four bytes, and as long as a longer upstream secret', () => {
    const keys = new CancelKeys();
    expect(keys.issue(session(), 1, 0)).toHaveLength(4);
    expect(keys.issue(session(), 2, 32)).toHaveLength(32);
  });
});
