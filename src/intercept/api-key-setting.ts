// pgai's key settings of one session (SET ai.openai_api_key = '…', set_config('ai.openai_api_key', '…', false), and
// its startup options, PGOPTIONS='-c ai.openai_api_key=…': startup-keys.ts): the server never sees the key, only a
// reference the proxy holds it under (held-values.ts), so its log, pg_stat_activity and SHOW never show it, nor can
// another role's code that the session runs read it from current_setting(). A value set where the proxy could not
// take it in (an ALTER ROLE … SET made before, set_config of a value computed in SQL) is the key itself, as pgai reads it.
// A reference stands for its key only while the session may have the setting set to it: DISCARD ALL lets go of every
// key its statements set, RESET ALL too, and RESET of a setting of that setting's, outside a transaction block
// (secret-resets.ts; the startup options' keys stay, the values these restore): a reference written out again later
// (a pooler's next client, reading it in the server's log) then means nothing.
// A reference stands for its key only in the setting it was made for: code of another role that the session runs (a
// view's set_config('ai.openai_api_key', current_setting('ai.anthropic_api_key', true), false)) may copy it into
// another setting, and a key goes only to the API it is for (functions/pgai/endpoint.ts).

import { PgError } from '../../proxy/pg-error.js';
import { API_KEY_VALUES, mentionsApiKeySetting } from '../sql/api-key-statements.js';
import { runParseTask } from '../sql/parse-task.js';
import { HeldValues, holdable, replaced } from './held-values.js';
import type { WrittenAfter } from './secret-resets.js';

/** A key held, and the setting (lower case) the session set it in. */
interface HeldKey {
  value: string;
  setting: string;
}

export class SessionApiKeys {
  /** The keys the session's statements set. */
  private readonly keys = new HeldValues<HeldKey>();
  /** The keys its startup options gave, the session's own until it ends. */
  private readonly given = new HeldValues<HeldKey>();

  /** The reference the server gets in the place of a key its startup options give `setting` (lower case). */
  holdGiven(setting: string, value: string): string {
    return this.given.hold({ value, setting });
  }

  /** Whether the session's statements set any key the proxy holds. */
  get holding(): boolean {
    return this.keys.size > 0;
  }

  /** Whether the proxy holds any key of the session's: its statements' or its startup options'. */
  get holdsAnyKey(): boolean {
    return this.keys.size > 0 || this.given.size > 0;
  }

  /** The keys the session's statements set in `setting` (lower case), or in any setting, are let go of, but those `kept`. */
  forget(setting: string | undefined, kept: WrittenAfter): void {
    this.keys.forget((key, reference) => (setting === undefined || key.setting === setting) && !kept(reference));
  }

  /** The query string with each key replaced by a reference; throws a PgError where the server would keep the key. */
  async seal(sql: string): Promise<string> {
    if (!mentionsApiKeySetting(sql)) return sql;
    const spans = await runParseTask(API_KEY_VALUES, sql);
    if (spans.length === 0) return sql;
    return replaced(sql, spans.map(({ value, setting, start, end }) => ({ start, end, text: `'${this.keys.hold({ value: holdable('an API key setting', value), setting })}'` })));
  }

  /** The key a setting's (`setting`, lower case) value stands for. */
  resolve(setting: string, value: string): string {
    if (!HeldValues.isReference(value)) return value;
    const key = this.keys.get(value) ?? this.given.get(value);
    if (key?.setting === setting) return key.value;
    if (key !== undefined) {
      throw new PgError('42501', `${setting} holds a reference to the key this session set in ${key.setting}: a key goes only to the API whose setting it was set in`, {
        hint: `SET ${setting} itself in this session; a view or function of another role that your statements ran may have copied the value of ${key.setting} into it.`,
      });
    }
    throw new PgError('22023', `${setting} holds a key this session did not set through the proxy`, {
      hint: `SET ${setting} again in this session (the proxy keeps the key, the server only a reference to it).`,
    });
  }
}
