// Where a secret the session handed the proxy may go: a key set with SET through the proxy, or a secret written out
// in the client's statement (held back from the server, which knows it by reference). A call's arguments may choose
// the server; the secret goes there only when the client named that server itself (src/intercept/named-servers.ts).
// Code of other roles that the client's statement runs (a view's call, a call copying a held reference from
// current_query()) could otherwise send the secret, which PostgreSQL never shows it, to a server of its own. (A
// session setting's server is used only when the client chose it, whatever the key: functions/pgai/endpoint.ts.)

import { PgError } from '../proxy/pg-error.js';
import type { CallContext } from './declaration.js';

/**
 * The kind a key setting's name (api_key_name) is noted as when the client gives it in a call of `api`
 * (src/sql/server-names.ts): a key set under a name of the client's own choosing goes only to an API it named it
 * for (functions/pgai/endpoint.ts).
 */
export function keyNameKind(api: string): string {
  return `${KEY_NAME} ${api}`;
}

/** Whether a kind is keyNameKind's. */
export function isKeyNameKind(kind: string): boolean {
  return kind.startsWith(`${KEY_NAME} `);
}

const KEY_NAME = 'api_key_name';

/**
 * Refuses (42501) to send a held secret to `server` (chosen by the call) when the client did not name
 * it for servers of `kind` (the call's API, or 'model'). `held`: the secret sent is held; a call with any held argument counts as sending one. `where` says whose
 * server it is; `hint` how the client names one. No URL is quoted: the error reaches the server's log.
 */
export function refuseUnnamedServer(context: Pick<CallContext, 'heldArguments' | 'namedByClient'>, server: unknown, kind: string, held: boolean, where: string, hint: string): void {
  if (!(held || context.heldArguments.size > 0) || typeof server !== 'string' || server === '' || context.namedByClient(server, kind)) return;
  throw new PgError('42501', `a secret this session handed the proxy goes only to a server the session named itself, and ${where} was chosen elsewhere`, {
    hint: `${hint}; a view or function of another role run by your statement cannot choose where your key goes.`,
  });
}
