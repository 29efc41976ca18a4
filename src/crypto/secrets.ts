// Secrets at rest: AES-256-GCM with a random 96-bit nonce under a master key the database never sees. Each blob
// names the key it was sealed with (an 8-byte id derived from the key), so keys can be rotated.
//   blob = version (1) | key id (8) | nonce (12) | tag (16) | ciphertext

import { createCipheriv, createDecipheriv, createHash, randomBytes, scryptSync } from 'node:crypto';

const VERSION = 1;
const KEY_ID_LENGTH = 8;
const NONCE_LENGTH = 12;
const TAG_LENGTH = 16;
const HEADER_LENGTH = 1 + KEY_ID_LENGTH + NONCE_LENGTH + TAG_LENGTH;
/** Fixed: the passphrase is the secret; the salt only separates this use of it from others. */
const KDF_SALT = 'pg_llm proxy master key v1';

export class SecretError extends Error {}

export interface MasterKey {
  id: Buffer;
  key: Buffer;
}

const derived = new Map<string, MasterKey>();

/**
 * A master key from its configured text: 64 hex digits are used as the key itself; anything else is a passphrase
 * stretched with scrypt (derived once per process).
 */
export function masterKey(text: string): MasterKey {
  let cached = derived.get(text);
  if (!cached) {
    const key = /^[0-9a-fA-F]{64}$/.test(text) ? Buffer.from(text, 'hex') : scryptSync(text, KDF_SALT, 32);
    cached = { key, id: createHash('sha256').update(key).digest().subarray(0, KEY_ID_LENGTH) };
    derived.set(text, cached);
  }
  return cached;
}

export function seal(plaintext: string, master: MasterKey): Buffer {
  const nonce = randomBytes(NONCE_LENGTH);
  const cipher = createCipheriv('aes-256-gcm', master.key, nonce);
  const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return Buffer.concat([Buffer.from([VERSION]), master.id, nonce, cipher.getAuthTag(), ciphertext]);
}

/** Opens a blob with whichever of the given keys sealed it. */
export function open(blob: Buffer, keys: MasterKey[]): string {
  if (blob.length < HEADER_LENGTH || blob[0] !== VERSION) throw new SecretError('stored secret has an unknown format');
  const id = blob.subarray(1, 1 + KEY_ID_LENGTH);
  const master = keys.find((candidate) => candidate.id.equals(id));
  if (!master) throw new SecretError('stored secret was sealed with a master key that is not configured');
  const nonce = blob.subarray(1 + KEY_ID_LENGTH, 1 + KEY_ID_LENGTH + NONCE_LENGTH);
  const tag = blob.subarray(1 + KEY_ID_LENGTH + NONCE_LENGTH, HEADER_LENGTH);
  const decipher = createDecipheriv('aes-256-gcm', master.key, nonce);
  decipher.setAuthTag(tag);
  try {
    return Buffer.concat([decipher.update(blob.subarray(HEADER_LENGTH)), decipher.final()]).toString('utf8');
  } catch {
    throw new SecretError('stored secret failed authentication: wrong key or tampered data');
  }
}

/** Whether a blob names this key as the one that sealed it (its contents are not checked). */
export function sealedWith(blob: Buffer, master: MasterKey): boolean {
  return blob[0] === VERSION && blob.subarray(1, 1 + KEY_ID_LENGTH).equals(master.id);
}

/** A sealed secret written where only text fits (a config file), so an API key need not sit there in clear. */
const SEALED_TEXT = 'sealed:v1:';

export function sealText(plaintext: string, master: MasterKey): string {
  return SEALED_TEXT + seal(plaintext, master).toString('base64');
}

/** Any `sealed:` prefix counts, so that a value in a format this version does not read fails rather than be sent as a key. */
export function isSealedText(text: string): boolean {
  return text.startsWith('sealed:');
}

export function openText(text: string, keys: MasterKey[]): string {
  if (!text.startsWith(SEALED_TEXT)) throw new SecretError(`sealed value has an unknown format (expected ${SEALED_TEXT}…)`);
  return open(Buffer.from(text.slice(SEALED_TEXT.length), 'base64'), keys);
}

/** What may be shown of a secret: its kind and last four characters at most. */
export function redact(secret: string): string {
  return secret.length <= 8 ? '****' : `****${secret.slice(-4)}`;
}
