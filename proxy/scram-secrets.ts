// The SCRAM secrets of roles, fetched with the auth query and kept briefly, so that a pool opening many connections
// as one role asks once. Only found secrets are kept, at most a bounded number, so that logins under ever new names
// cannot grow the cache; lookups of one name at the same time share one query.

import type { AuthLookups } from './auth-lookups.js';
import { parseScramSecret, type ScramSecret } from './scram.js';

/** How long a found secret is used without asking again; a changed password is noticed sooner (see refresh). */
const KEEP_MS = 30_000;
const MAX_KEPT = 1000;

export class ScramSecrets {
  private readonly kept = new Map<string, { until: number; secret: Promise<ScramSecret | undefined> }>();

  constructor(private readonly lookups: AuthLookups) {}

  /** The role's SCRAM secret; undefined when it has none (no such role, an MD5 or no password). */
  lookup(user: string): Promise<ScramSecret | undefined> {
    const entry = this.kept.get(user);
    if (entry && entry.until > Date.now()) return entry.secret;
    this.kept.delete(user);
    const secret = this.lookups.storedPassword(user).then(parseScramSecret);
    if (this.kept.size >= MAX_KEPT) this.kept.delete(this.kept.keys().next().value!);
    this.kept.set(user, { until: Date.now() + KEEP_MS, secret });
    secret.then(
      (found) => {
        if (!found) this.drop(user, secret);
      },
      () => this.drop(user, secret),
    );
    return secret;
  }

  /** Asks again: the upstream's salt or iteration count for the role no longer match the kept secret. */
  refresh(user: string): Promise<ScramSecret | undefined> {
    this.kept.delete(user);
    return this.lookup(user);
  }

  /** Closes the auth role's connection. */
  close(): void {
    this.lookups.close();
  }

  private drop(user: string, secret: Promise<ScramSecret | undefined>): void {
    if (this.kept.get(user)?.secret === secret) this.kept.delete(user);
  }
}
