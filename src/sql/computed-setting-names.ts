// set_config(name, value, …) whose name the statement computes rather than writes out: a bound parameter
// (set_config($1, $2, false)), a concatenation with one ('ai.' || $1), a function (lower('AI.OPENAI_API_KEY')), a
// column (FROM (VALUES ('ai.openai_api_key', 'sk-…')) x(n, v)). The proxy cannot tell which setting such a call sets,
// so if it is a key's (one of pgai's ai.* settings, pg_llm.master_key) it cannot hold the value, and the server would
// keep the key in clear, for SHOW and for any code the session runs. Whether a value computed in SQL or bound is a
// key cannot be told either, so such a call is refused unless what is written out proves it harmless:
// - the name's written-out beginning rules the key settings out ('app.' || $1 sets no ai.* setting), or
// - the value is NULL or a string constant too short to be a key (set_config(format('app.%s', $1), 'on', false)).
// A name written out in full (set_config('search_path', $1, false), as drivers and ORMs write it) is not computed.

import { PgError } from '../../proxy/pg-error.js';
import { constantText, uncast, type Expression } from './constant-text.js';

/** A string constant shorter than this cannot be a key: a provider's key, or a master key worth the name, is longer. */
export const KEY_LIKE_LENGTH = 16;

/**
 * Throws for set_config(`name`, `value`, …) when the name is computed and may begin with `secret` ('ai.', or the
 * whole of pg_llm.master_key), unless the value is a constant too short to be a key.
 */
export function refuseComputedSettingName([name, value]: Expression[], secret: string): void {
  if (constantText(name) !== undefined || !mayBegin(writtenBeginning(name), secret) || isShortConstant(value)) return;
  throw new PgError('0A000', 'set_config cannot take a setting name computed in SQL with a value that may be a key', {
    hint:
      "The proxy holds a key only under a setting name it can read. Write the name out as a string (set_config('search_path', $1, false)), " +
      "or begin it with one that is not ai.* ('app.' || $1); set a key as SET ai.openai_api_key = '…' or set_config('ai.openai_api_key', '…', false), " +
      'which the proxy holds, handing the server only a reference.',
  });
}

/** Whether a name that begins with `written` (any case, as set_config reads names) may be, or begin with, `secret`. */
function mayBegin(written: string, secret: string): boolean {
  const lower = written.toLowerCase();
  return secret.startsWith(lower) || lower.startsWith(secret);
}

/** The text a name begins with as the statement writes it: 'app.' of 'app.' || $1; '' for one computed whole. */
function writtenBeginning(expression: Expression | undefined): string {
  const node = uncast(expression);
  const whole = constantText(node);
  if (whole !== undefined) return whole;
  const operation = node?.A_Expr;
  if (operation?.kind !== 'AEXPR_OP' || operation.name?.at(-1)?.String?.sval !== '||') return '';
  const left = constantText(operation.lexpr);
  return left === undefined ? writtenBeginning(operation.lexpr) : left + writtenBeginning(operation.rexpr);
}

function isShortConstant(value: Expression | undefined): boolean {
  const written = constantText(value);
  return uncast(value)?.A_Const?.isnull === true || (written !== undefined && written.length < KEY_LIKE_LENGTH);
}
