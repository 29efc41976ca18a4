// SCRAM-SHA-256 (RFC 5802, RFC 7677) as PostgreSQL speaks it: the secret PostgreSQL stores for a password, the
// attributes of the messages, and the key arithmetic that both ends of an exchange share. Messages are handled as
// latin1 strings, one character per byte, so that what is signed is exactly what was sent.

import { createHash, createHmac, pbkdf2, randomBytes, timingSafeEqual } from 'node:crypto';
import { PgError, SqlState } from './pg-error.js';

export const SCRAM_SHA_256 = 'SCRAM-SHA-256';
export const SCRAM_SHA_256_PLUS = 'SCRAM-SHA-256-PLUS';
/** The only channel binding type PostgreSQL knows. */
export const TLS_SERVER_END_POINT = 'tls-server-end-point';

/** Raw bytes of a nonce, as PostgreSQL and libpq make theirs (SCRAM_RAW_NONCE_LEN). */
const NONCE_BYTES = 18;
const KEY_BYTES = 32;

/** What PostgreSQL keeps of a SCRAM password (rolpassword): SCRAM-SHA-256$iterations:salt$StoredKey:ServerKey. */
export interface ScramSecret {
  iterations: number;
  salt: Buffer;
  storedKey: Buffer;
  serverKey: Buffer;
}

const SECRET = /^SCRAM-SHA-256\$(\d+):([A-Za-z0-9+/]+=*)\$([A-Za-z0-9+/]+=*):([A-Za-z0-9+/]+=*)$/;

/** The SCRAM secret in a stored password; undefined for anything else (an MD5 hash, a plain password, none). */
export function parseScramSecret(stored: string | undefined): ScramSecret | undefined {
  const match = SECRET.exec(stored ?? '');
  if (!match) return undefined;
  const [, iterations, salt, storedKey, serverKey] = match;
  const secret = {
    iterations: Number(iterations),
    salt: Buffer.from(salt!, 'base64'),
    storedKey: Buffer.from(storedKey!, 'base64'),
    serverKey: Buffer.from(serverKey!, 'base64'),
  };
  return secret.storedKey.length === KEY_BYTES && secret.serverKey.length === KEY_BYTES ? secret : undefined;
}

/** The keys of a password: for the auth role's own login (a client's password never reaches the proxy). */
export async function passwordKeys(password: string, salt: Buffer, iterations: number): Promise<{ clientKey: Buffer; secret: ScramSecret }> {
  // SASLprep (RFC 4013), which PostgreSQL applies when it stores the secret, comes down to NFKC for passwords people type.
  const salted = await new Promise<Buffer>((resolve, reject) =>
    pbkdf2(password.normalize('NFKC'), salt, iterations, KEY_BYTES, 'sha256', (error, key) => (error ? reject(error) : resolve(key))),
  );
  const clientKey = hmac(salted, 'Client Key');
  return { clientKey, secret: { iterations, salt, storedKey: sha256(clientKey), serverKey: hmac(salted, 'Server Key') } };
}

export function hmac(key: Buffer, text: string): Buffer {
  return createHmac('sha256', key).update(text, 'latin1').digest();
}

export function sha256(data: Buffer): Buffer {
  return createHash('sha256').update(data).digest();
}

export function xor(a: Buffer, b: Buffer): Buffer {
  return Buffer.from(a.map((byte, i) => byte ^ b[i]!));
}

export function sameBytes(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

export function newNonce(): string {
  return randomBytes(NONCE_BYTES).toString('base64');
}

/** The proof a client sends: ClientKey XOR HMAC(StoredKey, AuthMessage). */
export function clientProof(clientKey: Buffer, storedKey: Buffer, authMessage: string): Buffer {
  return xor(clientKey, hmac(storedKey, authMessage));
}

/** The signature a server sends back, proving it knows ServerKey. */
export function serverSignature(serverKey: Buffer, authMessage: string): string {
  return hmac(serverKey, authMessage).toString('base64');
}

/** Reads a SCRAM message's attributes ("r=…,s=…,i=…") in the order the RFC fixes. */
export class ScramReader {
  private offset = 0;

  constructor(private readonly message: string) {}

  /** The value of the next attribute, which must be `name`. */
  attribute(name: string): string {
    const value = this.optional(name);
    if (value === undefined) throw malformed(`Expected attribute "${name}" but found "${this.message.slice(this.offset, this.offset + 1)}".`);
    return value;
  }

  /** The value of the next attribute if it is `name`; otherwise nothing is read. */
  optional(name: string): string | undefined {
    if (!this.message.startsWith(`${name}=`, this.offset)) return undefined;
    const start = this.offset + name.length + 1;
    const end = this.message.indexOf(',', start);
    this.offset = end < 0 ? this.message.length : end + 1;
    return this.message.slice(start, end < 0 ? undefined : end);
  }
}

export function malformed(detail: string): PgError {
  return new PgError(SqlState.ProtocolViolation, 'malformed SCRAM message', { severity: 'FATAL', detail });
}

/** A nonce as the RFC allows it: printable ASCII but the comma. */
export function validNonce(nonce: string): boolean {
  return /^[\x21-\x2b\x2d-\x7e]+$/.test(nonce);
}

/** Decodes base64 that must be exactly that (Buffer.from ignores what it cannot read). */
export function strictBase64(text: string, what: string): Buffer {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 !== 0) throw malformed(`Malformed ${what}.`);
  return Buffer.from(text, 'base64');
}
