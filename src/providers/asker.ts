// Who a provider request is made for: a role in a database (the session's current_user and database, and its login
// role, session_user, as JSON), or no one for the worker's requests, which all share one. The process's model-call
// slots and the bytes of answers being read are shared fairly between login roles (shareOf; call-limit.ts,
// response-cap.ts). The SDKs pass nothing of their caller's through to the fetch that reads an answer, so a call runs
// with its asker in an async context that the fetch can read.

import { AsyncLocalStorage } from 'node:async_hooks';

export type Asker = string | undefined;

const asking = new AsyncLocalStorage<Asker>();

/** The asker of the provider request being made now. */
export function currentAsker(): Asker {
  return asking.getStore();
}

/** Runs `work` as the asker's: the requests it makes are theirs. */
export function asAsker<T>(asker: Asker, work: () => T): T {
  return asking.run(asker, work);
}

/** The events of a stream, each step of it run as the asker's (streamWithin). */
export function streamAsAsker<T>(asker: Asker, events: AsyncIterable<T>): AsyncIterable<T> {
  return streamWithin((step) => asAsker(asker, step), events);
}

/**
 * The events of a stream, each step of it run by `enter` (in an async context of the caller's): a generator's body
 * runs in the context of whoever asks for its next event, so the context of its creation alone would not reach it.
 */
export async function* streamWithin<T>(enter: <R>(step: () => R) => R, events: AsyncIterable<T>): AsyncIterable<T> {
  const iterator = events[Symbol.asyncIterator]();
  try {
    for (;;) {
      const step = await enter(() => iterator.next());
      if (step.done) return;
      yield step.value;
    }
  } finally {
    await enter(async () => iterator.return?.());
  }
}

/**
 * Whose share of the proxy's model calls and answer bytes a request takes: its login role's, in whichever database and
 * as whichever role it asks. Any role may connect to a database anyone creates and become any role it is a member
 * of, so a share per role and database would hand one login as many shares as it has databases and roles. The
 * worker logs in as the owner of the tables it fills, so its calls take the owner's share.
 */
export function shareOf(asker: Asker): Asker {
  return askerParts(asker)?.login ?? asker;
}

/** The asker of what a login role's sessions do for none of its roles in particular (their collect passes): its share is the login's. */
export function loginAsker(login: string): string {
  return JSON.stringify([login, '', login]);
}

/**
 * The role, database and login role (the role itself where the asker does not say) of a session's asker; undefined
 * for the worker's requests (or what is not one).
 */
export function askerParts(asker: Asker): { role: string; database: string; login: string } | undefined {
  if (asker === undefined) return undefined;
  try {
    const [role, database, login = role] = JSON.parse(asker) as unknown[];
    return typeof role === 'string' && typeof database === 'string' && typeof login === 'string' ? { role, database, login } : undefined;
  } catch {
    return undefined;
  }
}
