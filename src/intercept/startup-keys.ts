// pgai's key settings given at connection start: PGOPTIONS='-c ai.openai_api_key=…' (in any spelling the server
// reads there: startup-options.ts) or a startup parameter of their own. Passed on, the key would be the setting's
// value in the server, where code of another role that the session runs (a view calling a SECURITY DEFINER function
// that reads current_setting('ai.openai_api_key')) could copy it. The proxy holds it as it holds a SET's
// (api-key-setting.ts): the server is sent a reference in its place, which the proxy resolves to the key.

import { isApiKeySetting } from '../sql/api-key-statements.js';
import type { SessionApiKeys } from './api-key-setting.js';
import { withSettingsReplaced } from './startup-options.js';
import { settingCase } from '../sql/setting-case.js';

/**
 * The startup parameters as the server is to get them, each key among them held in `keys` and replaced by its
 * reference; undefined when they hold no key. An empty value is no key: pgai reads it as none, and so does the proxy.
 */
export function withStartupKeysHeld(parameters: ReadonlyMap<string, string>, keys: SessionApiKeys): Map<string, string> | undefined {
  const hold = (name: string, value: string): string | undefined => (isApiKeySetting(name) && value !== '' ? keys.holdGiven(settingCase(name), value) : undefined);
  let held: Map<string, string> | undefined;
  for (const [name, value] of parameters) {
    const replaced = name === 'options' ? withSettingsReplaced(value, hold) : hold(name, value);
    if (replaced === undefined) continue;
    held ??= new Map(parameters);
    held.set(name, replaced);
  }
  return held;
}
