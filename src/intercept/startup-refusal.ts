// Startup parameters the proxy does not pass on. The master key is one: given at connection start (PGOPTIONS='-c
// pg_llm.master_key=…', or as a parameter of its own) it would reach the server in clear, where SHOW and any other
// role's code running in the session read it, and the proxy, which keeps a session's key only from its SET, could
// not use it anyway. So is a URL of one of pgai's server settings that carries a user, a password or a query
// (api-key-statements.ts refuses the same in a SET), and options naming such settings in bytes the server may
// split at otherwise than the proxy.

import { PgError, SqlState } from '../../proxy/pg-error.js';
import { urlCarriesCredentials } from '../crypto/config-secrets.js';
import { urlCredentialsError } from '../sql/url-credentials.js';
import { MASTER_KEY_SETTING } from '../sql/master-key-statements.js';
import { isServerSetting } from '../sql/server-names.js';
import { splitsByLocale, startupSettings } from './startup-options.js';

/** A setting's name as the server may read it in the options: escapes undone, dashes as underscores, in any case. */
function spelled(text: string): string {
  return text.replace(/\\/g, '').replace(/-/g, '_').toLowerCase();
}

/** Why a session with these startup parameters is refused before they reach the server; undefined when it is not. */
export function startupRefusal(parameters: ReadonlyMap<string, string>): PgError | undefined {
  // Setting names are case-insensitive, and the server reads a dash of a name in `options` as an underscore
  // (startup-options.ts); there a name may be written in any of -c's forms, or escaped: any mention of the name, in
  // any of those spellings, is enough to refuse, since only the session itself loses by it.
  const named = [...parameters].some(([name, value]) => spelled(name) === MASTER_KEY_SETTING || (name === 'options' && spelled(value).includes(MASTER_KEY_SETTING)));
  if (!named) return ambiguousOptionsRefusal(parameters) ?? urlCredentialsRefusal(parameters);
  return new PgError(SqlState.FeatureNotSupported, `${MASTER_KEY_SETTING} cannot be given at connection start: the server would keep it in clear`, {
    severity: 'FATAL',
    hint: `SET ${MASTER_KEY_SETTING} in the session (the proxy keeps the key, the server only a reference to it), or start the proxy with --master-key (PG_LLM_MASTER_KEY).`,
  });
}

/**
 * Options naming a setting of pgai's or the proxy's, in bytes a server may split at otherwise than the proxy
 * (startup-options.ts): the proxy would not see the setting the server makes, a key or a URL with credentials.
 */
function ambiguousOptionsRefusal(parameters: ReadonlyMap<string, string>): PgError | undefined {
  const options = parameters.get('options');
  if (options === undefined || !splitsByLocale(options) || !/ai\.|pg_llm\./.test(spelled(options))) return undefined;
  return new PgError(SqlState.FeatureNotSupported, 'the options at connection start hold a byte a server may read as a space (one of U+00A0, U+0085, or a character encoded with 0xA0 or 0x85) beside a setting of pgai or pg_llm', {
    severity: 'FATAL',
    hint: 'Give such settings with SET in the session, or write the options in ASCII.',
  });
}

/** A server setting given at connection start whose URL carries credentials, which the server would keep in clear. */
function urlCredentialsRefusal(parameters: ReadonlyMap<string, string>): PgError | undefined {
  const settings = [...parameters].flatMap(([name, value]) => (name === 'options' ? startupSettings(value) : [[name, value] as const]));
  const named = settings.find(([name, value]) => isServerSetting(name) && urlCarriesCredentials(value));
  return named && urlCredentialsError(named[0], 'FATAL');
}
