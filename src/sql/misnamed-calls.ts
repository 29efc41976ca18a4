// A call the proxy serves, written by a name it does not take for one: bare where its schema is not public
// (openai_embed(…) with ai on the search_path), or behind a database's name (db.ai.openai_embed(…)). The server
// resolves such a name to the catalog's stub, which only says the call runs in the proxy; but the statement reaches
// it as written, and its log and pg_stat_activity (and the code the statement runs, through current_query()) keep a
// key written out or bound there in the clear (review R1). So a secret argument given in such a call is refused
// before the server gets the statement.

import { functionsMeant, qualifiedName } from '../../functions/registry.js';
import { PgError } from '../../proxy/pg-error.js';
import { uncast, writtenString } from './computed-secrets.js';
import { declaredArguments } from './declared-arguments.js';
import { eachCall, names } from './statement-scopes.js';

type Node = Record<string, any>;

/** Refuses a statement's call of a function the proxy serves, written under another name, that gives a secret argument. */
export function refuseMisnamedSecretCalls(statement: unknown): void {
  eachCall(statement, (call) => {
    const { declarations, arguments: found } = declaredArguments(call, functionsMeant);
    const secret = found.find(({ declared, expression }) => declared?.secret && given(expression));
    if (!secret) return;
    const served = qualifiedName(declarations[0]!);
    const written = names(call.funcname as Node[]).join('.');
    throw new PgError('0A000', `${written}(…) is not a call pg_llm proxy serves, and it gives the ${secret.declared!.name} argument of ${served} in the clear`, {
      hint: `Write ${served}(…): the proxy serves that name, and holds back its secrets; the server would keep this one in its log.`,
    });
  });
}

/** An argument other than NULL or an empty string, which hold no secret. */
function given(expression: Node): boolean {
  const node = uncast(expression);
  return node.A_Const?.isnull !== true && !(node.A_Const?.sval !== undefined && writtenString(node) === undefined);
}
