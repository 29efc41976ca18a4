// The portals of LLM statements a session bound, each with its Bind parameters, for as long as PostgreSQL keeps
// them. Portals of the extended protocol are never holdable: the server drops every one when the transaction that
// bound it ends. A client that binds and syncs in a loop would otherwise leave the proxy holding every parameter it
// ever sent, so a portal is forgotten once a ReadyForQuery with status idle comes after the Sync or Query that
// ends its transaction. A session may hold only so many at once, and the sessions of a login role only so many bytes
// of parameters together (a Bind may be as big as a message: in a transaction block, 256 of them would keep the
// proxy's memory and not only the server's, and a role may open as many sessions as the server lets it). A Bind too
// big to come in one read takes its room before its body is read (reserve), so that the sessions of a role reading
// such Binds at once cannot hold more than the bound between them either.

import type { BindAdmission, SessionIo } from '../../proxy/interceptor.js';
import { PgError, SqlState } from '../../proxy/pg-error.js';
import { bindParametersTooLarge } from './argument-limits.js';
import type { RoleBytes, SessionBytes } from './role-bytes.js';

/** Portals of LLM statements one session may have bound at once; drivers keep a handful, usually one. */
export const MAX_TRACKED_PORTALS = 256;

/**
 * Bytes of Bind parameters the portals of one login role's sessions may keep in all: twice what one statement's LLM
 * calls may take by default.
 */
export const MAX_ROLE_PORTAL_BYTES = 256 * 1024 * 1024;

function tooManyPortals(): PgError {
  return new PgError(SqlState.ProgramLimitExceeded, `pg_llm proxy: more than ${MAX_TRACKED_PORTALS} portals the proxy keeps (of statements calling LLM functions or installing pg_llm) are open in this session`, {
    hint: 'Close portals you no longer need, or end the transaction that holds them.',
  });
}

function tooManyParameterBytes(limit: number): PgError {
  return new PgError(
    SqlState.ProgramLimitExceeded,
    `pg_llm proxy: the portals the proxy keeps (of statements calling LLM functions or installing pg_llm) in this login role's sessions would keep more than ${limit / 1024 / 1024} MiB of parameters, the bound for all of a role's sessions together`,
    { hint: "Close portals you no longer need, or end the transactions that hold them, in this session or the role's others." },
  );
}

export interface Lifetime {
  /** The number the ReadyForQuery ending the portal's transaction has, at the earliest. */
  endsAtReady: number;
  /** Bytes of its Bind's parameters the proxy keeps. */
  bytes: number;
}

/** Room set aside in the role's account for a Bind before it is read, or the reason it has none (and is refused). */
export class PortalRoom implements BindAdmission {
  constructor(
    readonly refusal: PgError | undefined,
    private bytes: number,
    private readonly account: SessionBytes,
  ) {}

  /** The Bind is checked and tracked now, counting its own bytes: the room set aside goes back. */
  release(): void {
    this.account.add(-this.bytes);
    this.bytes = 0;
  }
}

export class TrackedPortals<Portal> {
  private readonly portals = new Map<string, Portal & Lifetime>();
  /** The parameters' bytes, in the account of the session's login role (whose other sessions may have ended portals forgotten). */
  private readonly bytes: SessionBytes;

  /** @param maxBindBytes the most bytes of parameters one portal may keep */
  constructor(
    private readonly io: Pick<SessionIo, 'owed' | 'readies'>,
    roles: RoleBytes,
    role: string,
    private readonly maxBindBytes: number,
  ) {
    this.bytes = roles.open(role, () => this.forgetEnded());
  }

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
    this.bytes.add(-(this.portals.get(name)?.bytes ?? 0));
    this.portals.delete(name);
  }

  /**
   * Why binding `name` (undefined: a name not known) with `bytes` of parameters now would pass a limit (a rebound name
   * gives up its own), if it would.
   */
  refusal(name: string | undefined, bytes: number): PgError | undefined {
    if (bytes > this.maxBindBytes) return bindParametersTooLarge(this.maxBindBytes);
    this.forgetEnded();
    const existing = name === undefined ? undefined : this.portals.get(name);
    if (!existing && this.portals.size >= MAX_TRACKED_PORTALS) return tooManyPortals();
    if (!this.bytes.fits(bytes, existing?.bytes)) return tooManyParameterBytes(this.bytes.limit);
    return undefined;
  }

  /** Sets aside the room a Bind of `name` with `bytes` of parameters would take, before it is read, if it has room. */
  reserve(name: string | undefined, bytes: number): PortalRoom {
    const refusal = this.refusal(name, bytes);
    if (refusal) return new PortalRoom(refusal, 0, this.bytes);
    this.bytes.add(bytes);
    return new PortalRoom(undefined, bytes, this.bytes);
  }

  /**
   * Tracks a portal whose Bind is about to go upstream: every Query and Sync already sent is answered before the
   * ReadyForQuery of the one that ends its transaction.
   */
  set(name: string, portal: Portal, bytes: number): void {
    const endsAtReady = this.io.readies.received + this.io.owed.pendingReadies + 1;
    this.delete(name);
    this.portals.set(name, { ...portal, endsAtReady, bytes });
    this.bytes.add(bytes);
  }

  /** Takes the portal `name` out, its room given back, to be put back should the Bind that replaces it never run. */
  setAside(name: string): (Portal & Lifetime) | undefined {
    this.forgetEnded();
    const portal = this.portals.get(name);
    this.delete(name);
    return portal;
  }

  /** The portal `name` is `portal` again (none: not one of these), whatever was set since: its Bind was refused. */
  putBack(name: string, portal: (Portal & Lifetime) | undefined): void {
    this.delete(name);
    if (!portal) return;
    this.portals.set(name, portal);
    this.bytes.add(portal.bytes);
  }

  /** The session is over: its portals and their room go. */
  end(): void {
    this.portals.clear();
    this.bytes.end();
  }

  private forgetEnded(): void {
    if (this.portals.size === 0) return;
    const lastIdle = this.io.readies.lastIdle;
    for (const [name, portal] of this.portals) if (lastIdle >= portal.endsAtReady) this.delete(name);
  }
}
