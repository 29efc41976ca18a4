// The proxy's own BackendKeyData for each session. Clients only ever see these; a CancelRequest is matched here and
// then sent to the upstream with the upstream's key, which never leaves the proxy.

import { randomBytes, randomInt, timingSafeEqual } from 'node:crypto';

export interface Cancellable {
  /** Stops what the session is running: its model calls, or its query in the upstream backend. */
  cancel(): void;
  /** The session's user and the process id of its upstream backend, for pg_cancel_backend on the proxy's pid. */
  readonly user: string;
  readonly upstreamProcessId: number | undefined;
}

interface Entry {
  secret: Buffer;
  session: Cancellable;
}

const MAX_PROCESS_ID = 0x7fffffff;

export class CancelKeys {
  private readonly entries = new Map<number, Entry>();

  /** Issues a fresh key: a positive process id unique among live sessions and a random secret. */
  issue(session: Cancellable, secretLength: number): { processId: number; secret: Buffer } {
    let processId: number;
    do processId = randomInt(1, MAX_PROCESS_ID);
    while (this.entries.has(processId));
    const secret = randomBytes(Math.max(4, secretLength));
    this.entries.set(processId, { secret, session });
    return { processId, secret };
  }

  release(processId: number): void {
    this.entries.delete(processId);
  }

  /** The session a process id the proxy issued names: pg_cancel_backend(pid) takes no secret, only privileges. */
  session(processId: number): Cancellable | undefined {
    return this.entries.get(processId)?.session;
  }

  /** The session a CancelRequest names, or undefined when pid or secret do not match (PostgreSQL says nothing then). */
  find(processId: number, secret: Buffer): Cancellable | undefined {
    const entry = this.entries.get(processId);
    if (!entry || entry.secret.length !== secret.length || !timingSafeEqual(entry.secret, secret)) return undefined;
    return entry.session;
  }
}
