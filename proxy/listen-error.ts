// An address the proxy cannot listen on because of what the operator chose: said in one line naming the address,
// which the operator can act on where a stack trace would not help.

import { isIPv6 } from 'node:net';

const REASONS: Record<string, string> = {
  EADDRINUSE: 'the address is already in use',
  EADDRNOTAVAIL: 'the address is not one of this host\'s',
  EACCES: 'permission denied',
};

export class ListenError extends Error {}

/** `listen`'s error as a ListenError when the address is the cause; any other error as it is. */
export function listenError(error: unknown, where: { host?: string; port?: number; path?: string }): unknown {
  const reason = REASONS[(error as NodeJS.ErrnoException).code ?? ''];
  if (reason === undefined) return error;
  const address = where.path ?? (isIPv6(where.host ?? '') ? `[${where.host}]:${where.port}` : `${where.host}:${where.port}`);
  return new ListenError(`cannot listen on ${address}: ${reason}`);
}
