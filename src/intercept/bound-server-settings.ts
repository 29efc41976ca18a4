// set_config of one of pgai's server settings (ai.openai_base_url, ai.ollama_host…) with its value bound whole as a
// parameter: the server keeps the value in clear, where its log and any code the session runs read it, so a URL
// with a user, a password or a query is refused at Bind, as it is written out (api-key-statements.ts). The value
// also names the server for the session's calls (named-servers.ts). Statements with such a value are remembered by
// name until redefined or closed.

import { readBindParameter } from '../../proxy/frontend-read.js';
import type { PgError } from '../../proxy/pg-error.js';
import { urlCarriesCredentials } from '../crypto/config-secrets.js';
import { urlCredentialsError } from '../sql/api-key-statements.js';
import type { ServerNames } from '../sql/server-names.js';
import { MAX_TRACKED_STATEMENTS } from './tracked-statements.js';

export type SettingParameters = ServerNames['settingParameters'];

export class BoundServerSettings {
  private readonly statements = new Map<string, SettingParameters>();

  get size(): number {
    return this.statements.size;
  }

  /** A Parse: its settings' values are read at each Bind of the statement. */
  parsed(statement: string, parameters: SettingParameters): void {
    this.statements.delete(statement);
    if (parameters.length === 0) return;
    // A client naming statements afresh and never closing them must not grow this without bound.
    if (this.statements.size >= MAX_TRACKED_STATEMENTS) this.statements.delete(this.statements.keys().next().value!);
    this.statements.set(statement, parameters);
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
