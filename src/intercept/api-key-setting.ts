// pgai's key settings of one session (SET ai.openai_api_key = '…', set_config('ai.openai_api_key', '…', false)):
// the server never sees the key, only a reference the proxy holds it under (held-values.ts), so its log and
// pg_stat_activity never show it. A value set where the proxy could not take it in (PGOPTIONS at connection, an
// ALTER ROLE … SET made before, set_config of a value computed in SQL) is the key itself, as pgai reads it.

import { PgError } from '../../proxy/pg-error.js';
import { API_KEY_VALUES, mentionsApiKeySetting } from '../sql/api-key-statements.js';
import { runParseTask } from '../sql/parse-task.js';
import { HeldValues, holdable, replaced } from './held-values.js';

export class SessionApiKeys {
  private readonly keys = new HeldValues<string>();

  /** The query string with each key replaced by a reference; throws a PgError where the server would keep the key. */
  async seal(sql: string): Promise<string> {
    if (!mentionsApiKeySetting(sql)) return sql;
    const spans = await runParseTask(API_KEY_VALUES, sql);
    if (spans.length === 0) return sql;
    return replaced(sql, spans.map(({ value, start, end }) => ({ start, end, text: `'${this.keys.hold(holdable('an API key setting', value))}'` })));
  }

  /** The key a setting's value stands for. */
  resolve(setting: string, value: string): string {
    if (!HeldValues.isReference(value)) return value;
    const key = this.keys.get(value);
    if (key !== undefined) return key;
    throw new PgError('22023', `${setting} holds a key this session did not set through the proxy`, {
      hint: `SET ${setting} again in this session (the proxy keeps the key, the server only a reference to it).`,
    });
  }
}
