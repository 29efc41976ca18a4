// Secrets as an earlier version sealed them, for catalogs and config files written by it: unbound (version 1) blobs,
// in the format src/crypto/secrets.ts still reads, and the config-file text `pg-llm-proxy seal-secret` printed.

import { createCipheriv, randomBytes } from 'node:crypto';
import type { MasterKey } from '../../src/crypto/secrets.js';

export function unboundBlob(secret: string, master: MasterKey): Buffer {
  const nonce = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', master.key, nonce);
  const ciphertext = Buffer.concat([cipher.update(secret, 'utf8'), cipher.final()]);
  return Buffer.concat([Buffer.from([1]), master.id, nonce, cipher.getAuthTag(), ciphertext]);
}

export function unboundText(secret: string, master: MasterKey): string {
  return `sealed:v1:${unboundBlob(secret, master).toString('base64')}`;
}
