// Secrets at rest: AES-256-GCM with a random 96-bit nonce under a master key the database never sees. Each blob
// names the key it was sealed with (an 8-byte id derived from the key), so keys can be rotated.
//   blob = version (1) | key id (8) | nonce (12) | tag (16) | ciphertext
// Version 2 blobs are bound to what they belong to (associated data the caller gives at sealing and opening);
// version 1 blobs, sealed by earlier versions, are not, and are read only to be bound, or as a config file's
// sealed:v1: text.

import { createCipheriv, createDecipheriv, createHash, randomBytes, scrypt, scryptSync } from 'node:crypto';
import { CallLimit } from '../providers/call-limit.js';

const UNBOUND = 1;
const BOUND = 2;
const KEY_ID_LENGTH = 8;
const NONCE_LENGTH = 12;
const TAG_LENGTH = 16;
const HEADER_LENGTH = 1 + KEY_ID_LENGTH + NONCE_LENGTH + TAG_LENGTH;
/** Fixed: the passphrase is the secret; the salt only separates this use of it from others. */
const KDF_SALT = 'pg_llm proxy master key v1';

export class SecretError extends Error {}
export class UnboundSecretError extends SecretError {}

export interface MasterKey {
  id: Buffer;
  key: Buffer;
}

/**
 * Derived keys by their text (a client's, by its role and text). Bounded: sessions may SET any number of passphrases,
 * and each entry holds a key and its text.
 */
const derived = new Map<string, MasterKey>();
const MAX_DERIVED = 32;
const HEX_KEY = /^[0-9a-fA-F]{64}$/;

/** Whether a configured master key is a passphrase rather than 64 hex digits (a key itself). */
export function isPassphrase(text: string): boolean {
  return !HEX_KEY.test(text);
}

/**
 * A master key from its configured text: 64 hex digits are used as the key itself; anything else is a passphrase
 * stretched with scrypt (derived once, then kept while it is among the most recent).
 */
export function masterKey(text: string): MasterKey {
  return derived.get(text) ?? remember(text, HEX_KEY.test(text) ? Buffer.from(text, 'hex') : scryptSync(text, KDF_SALT, 32));
}

/**
 * scrypt runs on libuv's threadpool (four threads unless UV_THREADPOOL_SIZE says otherwise), where the DNS lookups of
 * every provider call run too: sessions SETting fresh passphrases would take all of it. One derivation runs at a
 * time, the roles asking taking turns, each one's in the order asked.
 */
const derivations = new CallLimit(1);

/**
 * masterKey() for a key a client sends, as `role` asks: scrypt (about 50 ms) runs off the event loop, so other
 * sessions do not wait, and one derivation at a time, so their provider calls' DNS lookups do not either. One still
 * waiting for its turn when `signal` aborts (its client has gone) leaves the queue, never derived.
 */
export async function masterKeyOffLoop(text: string, role: string | undefined, signal: AbortSignal): Promise<MasterKey> {
  if (HEX_KEY.test(text)) return masterKey(text);
  // Kept for the role that asked only: a role answered at once for a passphrase another derived lately would learn
  // that the other had set it.
  const cached = `${role ?? ''}\u0000${text}`;
  const known = derived.get(cached);
  if (known) return known;
  const release = await derivations.acquire(signal, role);
  try {
    // Derived while this one waited: the same passphrase SET again, in another session of the role or this one.
    const meanwhile = derived.get(cached);
    if (meanwhile) return meanwhile;
    const key = await new Promise<Buffer>((resolve, reject) => scrypt(text, KDF_SALT, 32, (error, stretched) => (error ? reject(error) : resolve(stretched))));
    return remember(cached, key);
  } finally {
    release();
  }
}

function remember(text: string, key: Buffer): MasterKey {
  const master = { key, id: createHash('sha256').update(key).digest().subarray(0, KEY_ID_LENGTH) };
  derived.delete(text);
  if (derived.size >= MAX_DERIVED) derived.delete(derived.keys().next().value!);
  derived.set(text, master);
  return master;
}

export function seal(plaintext: string, master: MasterKey, boundTo: Buffer): Buffer {
  return sealBlob(BOUND, plaintext, master, boundTo);
}

/**
 * Opens a bound blob with whichever of the given keys sealed it, only for what it was bound to. An unbound (v1)
 * blob is refused: it would open wherever it was copied.
 */
export function open(blob: Buffer, keys: MasterKey[], boundTo: Buffer): string {
  if (blob[0] === UNBOUND) throw new UnboundSecretError('stored secret is not bound to its model instance (sealed by an earlier version)');
  return openBlob(BOUND, blob, keys, boundTo);
}

/** Opens an unbound (v1) blob: for binding it to its row, never for using it there. */
export function openUnbound(blob: Buffer, keys: MasterKey[]): string {
  return openBlob(UNBOUND, blob, keys, undefined);
}

/**
 * The blob sealed again with `newKey`, bound to `boundTo`: a bound blob keeps what it is bound to (opening checks it),
 * an unbound one is bound by it, so the caller must have checked that it belongs there (sealed-blobs.ts).
 */
export function reseal(blob: Buffer, keys: MasterKey[], newKey: MasterKey, boundTo: Buffer): Buffer {
  const plaintext = blob[0] === UNBOUND ? openUnbound(blob, keys) : openBlob(BOUND, blob, keys, boundTo);
  return sealBlob(BOUND, plaintext, newKey, boundTo);
}

export function isUnbound(blob: Buffer): boolean {
  return blob[0] === UNBOUND;
}

/**
 * The blob opened with whichever of `keys` opens it (a bound blob only for `boundTo`), each tried whatever key the
 * blob names: the key id in its header is not authenticated, so anyone who may write a blob may make it name another
 * key than the one that sealed it, and only opening it tells. Undefined if none does, or if it is in no format this
 * version reads. An unbound blob is opened too, so the caller must have checked that it belongs there.
 */
export function openWithAny(blob: Buffer, keys: MasterKey[], boundTo: Buffer): { key: MasterKey; plaintext: string } | undefined {
  if (!knownFormat(blob)) return undefined;
  for (const key of keys) {
    const plaintext = decrypt(blob, key, blob[0] === BOUND ? boundTo : undefined);
    if (plaintext !== undefined) return { key, plaintext };
  }
  return undefined;
}

/** Whether the blob is in a format this version reads, whoever sealed it. */
export function knownFormat(blob: Buffer): boolean {
  return blob.length >= HEADER_LENGTH && (blob[0] === UNBOUND || blob[0] === BOUND);
}

/** Whether the blob names one of `keys` as the one that sealed it (its contents are not checked). */
export function namesAnyOf(blob: Buffer, keys: MasterKey[]): boolean {
  return keys.some((key) => sealedWith(blob, key));
}

function sealBlob(version: number, plaintext: string, master: MasterKey, boundTo: Buffer | undefined): Buffer {
  const nonce = randomBytes(NONCE_LENGTH);
  const cipher = createCipheriv('aes-256-gcm', master.key, nonce);
  if (boundTo) cipher.setAAD(boundTo);
  const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return Buffer.concat([Buffer.from([version]), master.id, nonce, cipher.getAuthTag(), ciphertext]);
}

function openBlob(version: number, blob: Buffer, keys: MasterKey[], boundTo: Buffer | undefined): string {
  if (blob.length < HEADER_LENGTH || blob[0] !== version) throw new SecretError('stored secret has an unknown format');
  const id = blob.subarray(1, 1 + KEY_ID_LENGTH);
  const master = keys.find((candidate) => candidate.id.equals(id));
  if (!master) throw new SecretError('stored secret was sealed with a master key that is not configured');
  const plaintext = decrypt(blob, master, boundTo);
  if (plaintext === undefined) throw new SecretError('stored secret failed authentication: wrong key, tampered data, or not the model instance it was sealed for');
  return plaintext;
}

/** The blob's plaintext under `master`, whatever key it names; undefined if it does not authenticate. */
function decrypt(blob: Buffer, master: MasterKey, boundTo: Buffer | undefined): string | undefined {
  const nonce = blob.subarray(1 + KEY_ID_LENGTH, 1 + KEY_ID_LENGTH + NONCE_LENGTH);
  const tag = blob.subarray(1 + KEY_ID_LENGTH + NONCE_LENGTH, HEADER_LENGTH);
  const decipher = createDecipheriv('aes-256-gcm', master.key, nonce);
  decipher.setAuthTag(tag);
  if (boundTo) decipher.setAAD(boundTo);
  try {
    return Buffer.concat([decipher.update(blob.subarray(HEADER_LENGTH)), decipher.final()]).toString('utf8');
  } catch {
    return undefined;
  }
}

/** Whether a blob names this key as the one that sealed it (its contents are not checked). */
export function sealedWith(blob: Buffer, master: MasterKey): boolean {
  return (blob[0] === UNBOUND || blob[0] === BOUND) && blob.subarray(1, 1 + KEY_ID_LENGTH).equals(master.id);
}

/**
 * A sealed secret written where only text fits (a config file), so an API key need not sit there in clear. Bound to
 * a purpose of its own, so that no such text opens as a model's secret wherever a role stores it; earlier versions
 * wrote sealed:v1:, unbound, which is still read (the catalog refuses unbound blobs, so it is no model's either).
 */
const SEALED_TEXT = 'sealed:v2:';
const UNBOUND_TEXT = 'sealed:v1:';
const CONFIG_FILE_SECRET = Buffer.from('pg_llm config file secret', 'utf8');

export function sealText(plaintext: string, master: MasterKey): string {
  return SEALED_TEXT + seal(plaintext, master, CONFIG_FILE_SECRET).toString('base64');
}

/** Any `sealed:` prefix counts, so that a value in a format this version does not read fails rather than be sent as a key. */
export function isSealedText(text: string): boolean {
  return text.startsWith('sealed:');
}

export function openText(text: string, keys: MasterKey[]): string {
  if (text.startsWith(SEALED_TEXT)) return open(Buffer.from(text.slice(SEALED_TEXT.length), 'base64'), keys, CONFIG_FILE_SECRET);
  if (text.startsWith(UNBOUND_TEXT)) return openUnbound(Buffer.from(text.slice(UNBOUND_TEXT.length), 'base64'), keys);
  throw new SecretError(`sealed value has an unknown format (expected ${SEALED_TEXT}…)`);
}

/** What is shown in place of a secret: no part of it, not even its last characters, which narrow a guess. */
export const REDACTED = '****';
