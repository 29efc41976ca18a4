// The master key of a developer's embedded server. Without one, the first model registered with an API key would be
// refused for want of a key to seal it with; an operator who named no upstream and no key is trying the proxy out, so
// the proxy makes a key for the embedded data and keeps it beside it, as it keeps the superuser's password. An
// operator's own key (--master-key, --master-key-file) always wins, and a real upstream never gets a made one.

import { randomBytes } from 'node:crypto';
import { keepSecret, readKeptSecret } from './kept-secret.js';

const WHAT = "the embedded PostgreSQL's master key";

export interface EmbeddedMasterKey {
  key: string;
  /** Where it is kept; none for a temporary data directory, which takes the key with it. */
  file: string | undefined;
  /** Made now, not found kept. */
  made: boolean;
}

export function masterKeyFile(dataDir: string): string {
  return `${dataDir}.master-key`;
}

export function embeddedMasterKey(dataDir: string | undefined): EmbeddedMasterKey {
  const made = randomBytes(32).toString('hex');
  if (dataDir === undefined) return { key: made, file: undefined, made: true };
  const file = masterKeyFile(dataDir);
  const kept = readKeptSecret(file, WHAT);
  if (kept !== undefined) return { key: kept, file, made: false };
  keepSecret(file, made, WHAT);
  return { key: made, file, made: true };
}
