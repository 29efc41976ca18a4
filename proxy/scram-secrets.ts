// The SCRAM secrets of roles, looked up with the auth query and kept briefly, so that a pool opening many connections
// as one role asks once. What a lookup finds is kept alike whether or not the role has a secret (no such role, an MD5
// or no password), for as long and within the same bound, so that how soon a login is answered does not tell which
// names are roles: a second login under a name is answered from memory either way. Lookups of one name at the same
// time share one query.

import type { AuthLookups } from './auth-lookups.js';
import { parseScramSecret, type ScramSecret } from './scram.js';

/** How long a lookup's answer is used without asking again; a changed password is noticed sooner (see secretFor). */
const KEEP_MS = 30_000;
/** The oldest answer goes first, whatever it was, so that which ones are still kept tells nothing either. */
const MAX_KEPT = 1000;

/** The salt (base64, as sent) and iteration count in the upstream's challenge for a role. */
export interface Challenge {
  salt: string;
  iterations: number;
}

interface Kept {
  until: number;
  secret: Promise<ScramSecret | undefined>;
  /** The challenge the answer goes with: a found secret's own; for none, the upstream's mock one, once seen. */
  challenge?: string;
  /** Clients still in their login that asked for it. */
  waiters: number;
  /** Aborted once they have all left: a lookup nobody waits for is not run. */
  unwanted: AbortController;
}

export class ScramSecrets {
  private readonly kept = new Map<string, Kept>();

  constructor(private readonly lookups: AuthLookups) {}

  /**
   * Starts the lookup as soon as a client names its role, so that the answer is in by the time the upstream asks
   * for SCRAM, and a login answered from memory is no sooner than one that was looked up.
   */
  prefetch(user: string, clientGone: AbortSignal): void {
    const entry = this.entry(user);
    entry.secret.catch(() => {});
    entry.waiters++;
    clientGone.addEventListener(
      'abort',
      () => {
        if (--entry.waiters === 0) entry.unwanted.abort();
      },
      { once: true },
    );
  }

  /**
   * The role's SCRAM secret if it fits the upstream's challenge; undefined when it has none, or another. An answer
   * kept for another salt or iteration count is older than the role's password (set, changed, or the role created
   * since): it is asked again, once.
   */
  async secretFor(user: string, challenge: Challenge): Promise<ScramSecret | undefined> {
    const seen = challengeKey(challenge.iterations, Buffer.from(challenge.salt, 'base64'));
    let kept = await this.answer(user, seen);
    if (kept.challenge !== seen) {
      this.forget(user, kept);
      kept = await this.answer(user, seen);
    }
    return kept.challenge === seen ? kept.secret : undefined;
  }

  /**
   * A login with the kept answer failed: the next one asks again, whether the role has a secret or not, so that a
   * failed login tells nothing either, and a role that got its password since is not kept waiting.
   */
  forget(user: string, entry = this.kept.get(user)): void {
    if (entry && this.kept.get(user) === entry) this.kept.delete(user);
  }

  /** Closes the auth role's connection. */
  close(): void {
    this.lookups.close();
  }

  /** What is kept for the role, once its lookup is in; an answer of none goes with the first challenge it meets. */
  private async answer(user: string, seen: string): Promise<Kept> {
    const entry = this.entry(user);
    const secret = await entry.secret;
    entry.challenge ??= secret ? challengeOf(secret) : seen;
    return entry;
  }

  private entry(user: string): Kept {
    const kept = this.kept.get(user);
    if (kept && kept.until > Date.now()) return kept;
    this.kept.delete(user);
    if (this.kept.size >= MAX_KEPT) this.kept.delete(this.kept.keys().next().value!);
    const unwanted = new AbortController();
    const secret = this.lookups.storedPassword(user, unwanted.signal).then(parseScramSecret);
    const entry: Kept = { until: Date.now() + KEEP_MS, secret, waiters: 0, unwanted };
    this.kept.set(user, entry);
    entry.secret.catch(() => this.forget(user, entry));
    return entry;
  }
}

function challengeOf(secret: ScramSecret): string {
  return challengeKey(secret.iterations, secret.salt);
}

function challengeKey(iterations: number, salt: Buffer): string {
  return `${iterations}:${salt.toString('base64')}`;
}
