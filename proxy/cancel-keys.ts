// The BackendKeyData clients get: the upstream backend's own process id, so that pg_backend_pid(),
// pg_stat_activity, NOTIFY and pg_terminate_backend agree with it, and a secret of the proxy's own. A CancelRequest
// is matched here and then sent to the upstream with the upstream's key, which never leaves the proxy.
//
// A process id can name more than one session: a new backend may get the pid of one whose session is still closing,
// and an upstream with a single backend (PGlite) reports one pid for every session. The secret tells them apart.

import { randomBytes, timingSafeEqual } from 'node:crypto';

export interface Cancellable {
  /** A CancelRequest: stops what the session is running, its model calls or its query in the upstream backend. */
  cancel(): void;
  /** pg_cancel_backend on the session's pid: PostgreSQL signals the backend itself; model calls are the proxy's. */
  cancelModelCalls(): void;
  /** The role the session logged in as. */
  readonly user: string;
}

interface Entry {
  secret: Buffer;
  session: Cancellable;
}

export class CancelKeys {
  private readonly entries = new Map<number, Entry[]>();

  /** Keys a session by its backend's process id: returns the secret its client gets, unique among that pid's. */
  issue(session: Cancellable, processId: number, secretLength: number): Buffer {
    const sharing = this.entries.get(processId) ?? [];
    let secret: Buffer;
    do secret = randomBytes(Math.max(4, secretLength));
    while (sharing.some((entry) => entry.secret.equals(secret)));
    this.entries.set(processId, [...sharing, { secret, session }]);
    return secret;
  }

  /** Forgets the session's key, and no other session's that has the same process id. */
  release(processId: number, session: Cancellable): void {
    const remaining = (this.entries.get(processId) ?? []).filter((entry) => entry.session !== session);
    if (remaining.length > 0) this.entries.set(processId, remaining);
    else this.entries.delete(processId);
  }

  /** The sessions a process id names: pg_cancel_backend(pid) takes no secret, only privileges. */
  sessions(processId: number): Cancellable[] {
    return (this.entries.get(processId) ?? []).map((entry) => entry.session);
  }

  /** The session a CancelRequest names, or undefined when pid or secret do not match (PostgreSQL says nothing then). */
  find(processId: number, secret: Buffer): Cancellable | undefined {
    const entry = this.entries.get(processId)?.find((candidate) => candidate.secret.length === secret.length && timingSafeEqual(candidate.secret, secret));
    return entry?.session;
  }
}
