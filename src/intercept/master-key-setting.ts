// SET pg_llm.master_key of one session. The server never sees the key: the proxy keeps it and sends a reference of
// its own in the value's place. PostgreSQL then gives the setting every semantics a setting has (SET LOCAL, RESET,
// RESET ALL, DISCARD ALL, a rollback or ROLLBACK TO SAVEPOINT undoing a SET, SHOW), in both protocols, while its
// logs, pg_stat_activity and SHOW see only the reference, which means nothing in any other session.

import { randomBytes } from 'node:crypto';
import { PgError } from '../../proxy/pg-error.js';
import { masterKeyOffLoop, type MasterKey } from '../crypto/secrets.js';
import { MASTER_KEY_SETS, MASTER_KEY_SETTING, mentionsMasterKey } from '../sql/master-key-statements.js';
import { runParseTask } from '../sql/parse-task.js';

const REFERENCE_PREFIX = 'held by pg_llm proxy ';
/** References a session keeps; a rollback reaching back past this many SETs finds its key gone (and says so). */
const MAX_REFERENCES = 64;

export class SessionMasterKeys {
  private readonly keys = new Map<string, MasterKey>();

  /** The query string with the value of each SET pg_llm.master_key replaced by a reference; throws a PgError where the server would get the key. */
  async seal(sql: string): Promise<string> {
    if (!mentionsMasterKey(sql)) return sql;
    const sets = await runParseTask(MASTER_KEY_SETS, sql);
    if (sets.length === 0) return sql;
    const bytes = Buffer.from(sql, 'utf8');
    const parts: Buffer[] = [];
    let from = 0;
    for (const { value, start, end } of sets) {
      parts.push(bytes.subarray(from, start), Buffer.from(`'${await this.hold(value)}'`));
      from = end;
    }
    parts.push(bytes.subarray(from));
    return Buffer.concat(parts).toString('utf8');
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

  private async hold(value: string): Promise<string> {
    const key = await masterKeyOffLoop(value);
    const reference = REFERENCE_PREFIX + randomBytes(16).toString('hex');
    if (this.keys.size >= MAX_REFERENCES) this.keys.delete(this.keys.keys().next().value!);
    this.keys.set(reference, key);
    return reference;
  }
}
