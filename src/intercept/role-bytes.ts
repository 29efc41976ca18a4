// Bytes that the sessions of one login role keep in the proxy together, against one bound for them all: a bound per
// session is as many bounds as the server lets the role open sessions (max_connections), and every other role's
// sessions share the memory it takes. A session keeps its bytes in an account of its own, counted in its role's and
// given back whole when the session ends, however it ends, so that a role's room never outlives its sessions.

/** The sessions of one login role that keep bytes now, and how many they keep in all. */
interface RoleEntry {
  kept: number;
  sessions: Set<SessionBytes>;
}

/** One kind of bytes (portals' parameters, say) the sessions of each login role keep, under one bound per role. */
export class RoleBytes {
  /** Only the roles whose sessions keep some bytes now. */
  private readonly roles = new Map<string, RoleEntry>();

  constructor(readonly limit: number) {}

  /**
   * The account of a new session of `role`. `reclaim` lets go of what the session keeps that is of no more use
   * (portals whose transaction has ended), which it may put off until its next look: the role's sessions are asked
   * to before one of them is refused room.
   */
  open(role: string, reclaim: () => void = () => undefined): SessionBytes {
    return new SessionBytes(this, role, reclaim);
  }

  /** How many bytes the sessions of `role` keep now. */
  keptBy(role: string): number {
    return this.roles.get(role)?.kept ?? 0;
  }

  /** Counts `bytes` more (fewer when negative) as kept by `session` of `role`. */
  count(role: string, session: SessionBytes, bytes: number, sessionKeeps: number): void {
    const entry = this.roles.get(role) ?? { kept: 0, sessions: new Set<SessionBytes>() };
    entry.kept += bytes;
    if (sessionKeeps > 0) entry.sessions.add(session);
    else entry.sessions.delete(session);
    if (entry.sessions.size > 0) this.roles.set(role, entry);
    else this.roles.delete(role);
  }

  /** Has every session of `role` let go of what it keeps of no more use. */
  reclaim(role: string): void {
    for (const session of this.roles.get(role)?.sessions ?? []) session.reclaim();
  }
}

export class SessionBytes {
  private bytes = 0;
  private ended = false;

  constructor(
    private readonly ledger: RoleBytes,
    /** The login role whose account this is. */
    readonly role: string,
    readonly reclaim: () => void,
  ) {}

  get limit(): number {
    return this.ledger.limit;
  }

  /** How many more bytes the role's sessions may keep now (none when past the bound). */
  room(): number {
    return Math.max(0, this.ledger.limit - this.ledger.keptBy(this.role));
  }

  /** Whether the role's sessions may keep `bytes` more once `freed` of this session's are let go. */
  fits(bytes: number, freed = 0): boolean {
    const fits = (): boolean => this.ledger.keptBy(this.role) - freed + bytes <= this.ledger.limit;
    if (fits()) return true;
    this.ledger.reclaim(this.role);
    return fits();
  }

  /** Counts `bytes` more (fewer when negative) as this session's; nothing once the session has ended. */
  add(bytes: number): void {
    if (this.ended || bytes === 0) return;
    this.bytes += bytes;
    this.ledger.count(this.role, this, bytes, this.bytes);
  }

  /** The session is over: all it kept is given back, and nothing it does after counts. */
  end(): void {
    this.add(-this.bytes);
    this.ended = true;
  }
}
