// A fastpath call (the protocol's FunctionCall, which names a function by oid) of set_config whose setting is a key
// setting of pgai's, or pg_llm's master key, would hand the server the key in clear: its log does not show a
// fastpath call's arguments, but the session's setting then holds the key itself, which any code the session runs
// (another role's view, a SECURITY DEFINER function) reads with current_setting(). The proxy holds a key set with
// SET, or with set_config in a statement, back from the server (api-key-setting.ts, master-key-setting.ts); one set
// this way it cannot, so the call is refused before it reaches the server.

import { readFunctionCall } from '../../proxy/frontend-read.js';
import { PgError } from '../../proxy/pg-error.js';
import { urlCarriesCredentials } from '../crypto/config-secrets.js';
import { isApiKeySetting } from '../sql/api-key-statements.js';
import { urlCredentialsError } from '../sql/url-credentials.js';
import { isServerSetting } from '../sql/server-names.js';
import { MASTER_KEY_SETTING } from '../sql/master-key-statements.js';
import { settingCase } from '../sql/setting-case.js';

/** set_config(text, text, boolean)'s oid, fixed in PostgreSQL's catalog (pg_proc.dat) since 7.3. */
const SET_CONFIG_OID = 2078;

/** The refusal of a FunctionCall that sets a key setting, or a server setting to a URL with credentials; undefined for any other. */
export function fastpathSettingRefusal(frame: Buffer): PgError | undefined {
  const { oid, argument } = readFunctionCall(frame, 0);
  if (oid !== SET_CONFIG_OID || !argument?.value) return undefined;
  // text's binary form is its text: either format names the setting alike.
  const name = settingCase(argument.value.toString('utf8').trim());
  if (isServerSetting(name)) {
    // Its URL, as set anywhere else, may carry no credentials (review R).
    const value = readFunctionCall(frame, 1).argument?.value;
    return value && urlCarriesCredentials(value.toString('utf8')) ? urlCredentialsError(name) : undefined;
  }
  const keySetting = name === MASTER_KEY_SETTING || isApiKeySetting(name);
  if (!keySetting) return undefined;
  return new PgError('0A000', `${name} cannot be set by a fastpath call of set_config through pg_llm proxy`, {
    hint: `Use SET ${name} = '…' (or set_config in a statement): the proxy holds the key back from the server.`,
  });
}
