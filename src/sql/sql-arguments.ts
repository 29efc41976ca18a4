// SQL written out as a constant for an argument declared SQL (pg_llm_estimate's sql) reaches the server inside the
// statement that calls the function, before the function reads it: the server's log (log_statement, an error's
// statement) and pg_stat_activity keep it as written. So each statement in it is held to what a top-level statement
// is held to before the server gets any of it. The secrets of its calls are held back (secret-literals.ts), and
// pg_llm.master_key named in any string is refused (master-key-statements.ts); here, a key setting it sets (SET
// ai.openai_api_key = '…', set_config('ai.…', '…', false), a function's SET clause) and code that would hand the
// server a secret (code-bodies.ts) are refused with 0A000. A key setting is not held there, as a session's SET is:
// the function runs its statement rolled back, and would set nothing for the session.

import { PgError } from '../../proxy/pg-error.js';
import { apiKeyValues, mentionsApiKeySetting } from './api-key-statements.js';
import { mayHoldSecret, refuseSecretsInCode } from './code-bodies.js';
import { uncast, writtenString } from './computed-secrets.js';
import { declaredArguments } from './declared-arguments.js';
import { parseStatementsNow } from './parse.js';
import { TooComplexToParse } from './parser.js';

type Node = Record<string, any>;

/** Throws a PgError for SQL written out for an argument declared SQL, anywhere in the statement, that would hand the server a key. */
export function refuseSecretsInSqlArguments(statement: unknown): void {
  if (Array.isArray(statement)) return statement.forEach(refuseSecretsInSqlArguments);
  if (statement === null || typeof statement !== 'object') return;
  for (const [key, value] of Object.entries(statement)) {
    if (key === 'FuncCall') refuseInCall(value as Node);
    refuseSecretsInSqlArguments(value);
  }
}

function refuseInCall(call: Node): void {
  const { declarations, arguments: found } = declaredArguments(call);
  for (const { declared, expression } of found) {
    const text = declared?.sql ? writtenString(uncast(expression)) : undefined;
    if (text !== undefined) refuseInSql(text, `the ${declared!.name} argument of ${declarations[0]!.name}`);
  }
}

/** The checks of a top-level statement the proxy would hold rather than refuse, on the statements of `text`. */
function refuseInSql(text: string, argument: string): void {
  const settings = mentionsApiKeySetting(text);
  if (!settings && !mayHoldSecret(text)) return;
  // Text the parser refuses has its syntax error answered by the proxy when it may hold a secret (secret-literals.ts);
  // one that may set a key setting is refused here, as at the top level.
  const keys = settings ? apiKeyValues(text) : [];
  if (keys.length > 0) {
    throw new PgError('0A000', `${argument} cannot set ${keys[0]!.setting}`, {
      hint: `The server gets that SQL as written, the key with it, before the function runs it. SET ${keys[0]!.setting} in the session first (the proxy keeps the key, the server only a reference to it).`,
    });
  }
  let statements: ReturnType<typeof parseStatementsNow>;
  try {
    statements = parseStatementsNow(text);
  } catch (error) {
    if (error instanceof TooComplexToParse) throw error;
    return;
  }
  for (const { node } of statements) {
    refuseSecretsInCode(node);
    refuseSecretsInSqlArguments(node);
  }
}
