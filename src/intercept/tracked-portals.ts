// The portals of LLM statements a session bound, each with its Bind parameters, for as long as PostgreSQL keeps
// them. Portals of the extended protocol are never holdable: the server drops every one when the transaction that
// bound it ends. A client that binds and syncs in a loop would otherwise leave the proxy holding every parameter it
// ever sent, so a portal is forgotten once a ReadyForQuery with status idle comes after the Sync or Query that
// ends its transaction, and a session may hold only so many at once.

import type { SessionIo } from '../../proxy/interceptor.js';
import { PgError, SqlState } from '../../proxy/pg-error.js';

/** Portals of LLM statements one session may have bound at once; drivers keep a handful, usually one. */
export const MAX_TRACKED_PORTALS = 256;

export function tooManyPortals(): PgError {
  return new PgError(SqlState.ProgramLimitExceeded, `pg_llm proxy: more than ${MAX_TRACKED_PORTALS} portals calling LLM functions are open in this session`, {
    hint: 'Close portals you no longer need, or end the transaction that holds them.',
  });
}

interface Lifetime {
  /** The number the ReadyForQuery ending the portal's transaction has, at the earliest. */
  endsAtReady: number;
}

export class TrackedPortals<Portal> {
  private readonly portals = new Map<string, Portal & Lifetime>();

  constructor(private readonly io: Pick<SessionIo, 'owed' | 'readies'>) {}

  get size(): number {
    return this.portals.size;
  }

  get(name: string): Portal | undefined {
    this.forgetEnded();
    return this.portals.get(name);
  }

  has(name: string): boolean {
    return this.get(name) !== undefined;
  }

  delete(name: string): void {
    this.portals.delete(name);
  }

  /** Whether binding `name` now would pass the limit (rebinding an existing name never does). */
  full(name: string): boolean {
    this.forgetEnded();
    return !this.portals.has(name) && this.portals.size >= MAX_TRACKED_PORTALS;
  }

  /**
   * Tracks a portal whose Bind is about to go upstream: every Query and Sync already sent is answered before the
   * ReadyForQuery of the one that ends its transaction.
   */
  set(name: string, portal: Portal): void {
    const endsAtReady = this.io.readies.received + this.io.owed.pendingReadies + 1;
    this.portals.set(name, { ...portal, endsAtReady });
  }

  private forgetEnded(): void {
    if (this.portals.size === 0) return;
    const lastIdle = this.io.readies.lastIdle;
    for (const [name, portal] of this.portals) if (lastIdle >= portal.endsAtReady) this.portals.delete(name);
  }
}
