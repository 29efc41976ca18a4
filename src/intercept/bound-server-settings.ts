// set_config of one of pgai's server settings (ai.openai_base_url, ai.ollama_host…) with its value bound whole as a
// parameter: the server keeps the value in clear, where its log and any code the session runs read it, so a URL
// with a user, a password or a query is refused at Bind, as it is written out (api-key-statements.ts). The value
// also names the server for the session's calls (named-servers.ts). Statements with such a value are remembered by
// name until redefined or closed.

import { readBindParameter } from '../../proxy/frontend-read.js';
import { PgError, SqlState } from '../../proxy/pg-error.js';
import { urlCarriesCredentials } from '../crypto/config-secrets.js';
import { urlCredentialsError } from '../sql/url-credentials.js';
import type { ServerNames } from '../sql/server-names.js';
import { MAX_TRACKED_STATEMENTS } from './tracked-statements.js';

export type SettingParameters = ServerNames['settingParameters'];

export class BoundServerSettings {
  private readonly statements = new Map<string, SettingParameters>();

  get size(): number {
    return this.statements.size;
  }

  /**
   * A Parse: its settings' values are read at each Bind of the statement. Past MAX_TRACKED_STATEMENTS such statements
   * the Parse is to be refused (the error): the oldest let go, its Binds went unread (review R).
   */
  parsed(statement: string, parameters: SettingParameters): PgError | undefined {
    this.statements.delete(statement);
    if (parameters.length === 0) return undefined;
    if (this.statements.size >= MAX_TRACKED_STATEMENTS) {
      return new PgError(SqlState.ProgramLimitExceeded, `pg_llm proxy: more than ${MAX_TRACKED_STATEMENTS} prepared statements that set a server setting of pgai's from a parameter exist in this session`, {
        hint: 'Close (DEALLOCATE) prepared statements you no longer need, or reuse them.',
      });
    }
    this.statements.set(statement, parameters);
    return undefined;
  }

  /** The error a Bind of `statement` is refused with: a value bound for a server setting carries credentials. */
  refusal(statement: string, frame: Buffer): PgError | undefined {
    for (const { number, setting } of this.statements.get(statement) ?? []) {
      // Text or binary, a text's value is its bytes.
      const value = readBindParameter(frame, number - 1)?.value;
      if (value && urlCarriesCredentials(value.toString('utf8'))) return urlCredentialsError(setting);
    }
    return undefined;
  }

  /** The settings a statement remembered binds, if any. */
  of(statement: string): SettingParameters | undefined {
    return this.statements.get(statement);
  }

  forget(statement: string): void {
    this.statements.delete(statement);
  }

  forgetAll(): void {
    this.statements.clear();
  }
}
