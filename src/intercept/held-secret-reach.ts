// A secret the session handed the proxy (a key written out or bound in a call, a config openai_client_config held)
// opens in any call of its function that the session's statement makes: the server knows it only by reference, but
// code of another role that the statement runs (a view's call, a policy's, a trigger's, a domain CHECK's) can copy
// that reference from current_query() or from the collect pass's table and make calls of its own with it, spending
// the key on its own prompts (review L1). A key the session set (SET ai.openai_api_key, its startup options) any such
// call reads without copying anything, and sends with headers, a body and a prompt of that role's (review W1). So before the passes of a statement run in a session that holds such
// secrets, what the statement reaches is judged from the catalog as SQL run here is (src/sql/function-check.ts), by
// owner alone: every function, operator, type and relation it reaches, and all they reach in turn, must be the
// caller's, a superuser's, the catalog owner's or a role's in pg_llm.trusted_owners, and no other role may create in
// the schemas its names resolve in. Code in the session's temporary schema (a view, a function, a table with triggers
// or defaults, or one standing in for the caller's table) counts as another's: another role's SECURITY INVOKER
// function that any earlier statement ran could have made it, and an unqualified name finds it before the caller's
// table (reviews X1, R4). The caller is its login role, not a role it acts as (function-check.ts). Judged
// before anything of the statement runs: afterwards its code could already have dropped itself (DROP FUNCTION …
// CASCADE takes a policy with it) once the pass let go of its locks, while only those trusted can add code to what
// the statement reaches meanwhile. The refusal counts only when a call the pass
// found opens a held secret, or a call reads a key the session set (calls.ts); a statement whose calls use none of
// them runs as it would.

import type { CallContext } from '../../functions/declaration.js';
import { PgError } from '../../proxy/pg-error.js';
import { stubBodies } from '../catalog/stubs.js';
import { unsafeReach, type Refusal } from '../sql/function-check.js';
import { parseStatements } from '../sql/parse.js';
import { refusalDescription } from '../sql/statement.js';
import { interceptedCalls } from './analyze.js';

/**
 * The reasons that refuse: code of a role not trusted, reached now or able to be put in the statement's way; and a
 * SQL function with settings of its own, whose body resolves its names through a search_path of its own, which the
 * walk does not follow (a schema there where another role creates would put that role's function in its place).
 */
const UNTRUSTED_CODE: ReadonlySet<Refusal['reason']> = new Set(['owner', 'path', 'schema', 'settings', 'temporary']);

/** Why a statement (its text as the server gets it) may not open the secrets the session holds, or undefined. */
export async function heldSecretRefusal(context: CallContext, sql: string): Promise<PgError | undefined> {
  const [statement] = await parseStatements(sql);
  if (!statement) return undefined;
  const stubs = stubBodies(interceptedCalls(statement.node).flat());
  const refusal = await unsafeReach(context, statement, { runs: true, temporaryCode: true, refusing: UNTRUSTED_CODE, stubs });
  if (!refusal) return undefined;
  const [what, hint] = refusalDescription(refusal, '');
  const message = `a secret this session handed the proxy opens only in a statement that runs no code of roles the session does not trust, and this statement ${what}`;
  if ('trustLeftOut' in refusal && refusal.trustLeftOut) {
    return new PgError('42501', `${message}; pg_llm.trusted_owners was not set by this session's client, and a view or function of another role may have set it`, {
      hint: 'SET pg_llm.trusted_owners in the session if you trust the roles it names; ALTER ROLE … SET counts too.',
    });
  }
  return new PgError('42501', message, {
    hint: `${hint} A view's, policy's or trigger's code of another role could otherwise make calls of its own with the keys your session handed the proxy.`,
  });
}
