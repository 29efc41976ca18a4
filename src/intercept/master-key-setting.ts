// SET pg_llm.master_key of one session. The server never sees the key: the proxy keeps it and sends a reference of
// its own in the value's place (held-values.ts), so PostgreSQL gives the setting every semantics a setting has
// (SET LOCAL, RESET, RESET ALL, DISCARD ALL, a rollback or ROLLBACK TO SAVEPOINT undoing a SET, SHOW), in both
// protocols, while its logs, pg_stat_activity and SHOW see only the reference. After DISCARD ALL, RESET ALL or a RESET
// of the setting the proxy lets go of the keys (secret-resets.ts): a reference written out again then means nothing.

import { PgError } from '../../proxy/pg-error.js';
import { masterKeyOffLoop, type MasterKey } from '../crypto/secrets.js';
import { MASTER_KEY_SETS, MASTER_KEY_SETTING, maySetMasterKey } from '../sql/master-key-statements.js';
import { runParseTask } from '../sql/parse-task.js';
import { HeldValues, holdable, replaced } from './held-values.js';
import type { WrittenAfter } from './secret-resets.js';

export class SessionMasterKeys {
  private readonly keys = new HeldValues<MasterKey>();
  /** Aborted when the session ends: a derivation still waiting for its turn then never runs. */
  private readonly session = new AbortController();

  /** `role`: the session's login role, whose derivations take their turns with other roles' (secrets.ts). */
  constructor(private readonly role?: string) {}

  /** The query string with the value of each SET pg_llm.master_key replaced by a reference; throws a PgError where the server would get the key. */
  async seal(sql: string): Promise<string> {
    if (!maySetMasterKey(sql)) return sql;
    const sets = await runParseTask(MASTER_KEY_SETS, sql);
    if (sets.length === 0) return sql;
    const spans: Array<{ start: number; end: number; text: string }> = [];
    for (const { value, start, end } of sets) spans.push({ start, end, text: `'${await this.hold(holdable(MASTER_KEY_SETTING, value))}'` });
    return replaced(sql, spans);
  }

  /** Whether the session set a key the proxy holds. */
  get holding(): boolean {
    return this.keys.size > 0;
  }

  /** The keys the session set are let go of, but those `kept`: it reset the setting (secret-resets.ts). */
  forget(kept: WrittenAfter): void {
    this.keys.forget((_, reference) => !kept(reference));
  }

  /** The key the session's current_setting('pg_llm.master_key') refers to; undefined when it has none. */
  resolve(value: string | null | undefined): MasterKey | undefined {
    if (!value) return undefined;
    const key = this.keys.get(value);
    if (key) return key;
    throw new PgError('22023', `${MASTER_KEY_SETTING} holds a value this session did not set through the proxy`, {
      hint: `SET ${MASTER_KEY_SETTING} again in this session (the proxy keeps the key, the server only a reference to it), or start the proxy with --master-key (PG_LLM_MASTER_KEY).`,
    });
  }

  /** The session has ended: its derivations still waiting leave the queue. */
  close(): void {
    this.session.abort(new PgError('08006', 'the session ended before its master key was derived'));
  }

  private async hold(value: string): Promise<string> {
    return this.keys.hold(await masterKeyOffLoop(value, this.role, this.session.signal));
  }
}
