// The SCRAM arithmetic against RFC 7677's example exchange, and the recovery of ClientKey the proxy relies on.

import { describe, expect, it } from 'vitest';
import { PasswordKeys } from '../../proxy/auth-role-login.js';
import { clientProof, hmac, parseScramSecret, passwordKeys, serverSignature, sha256, xor } from '../../proxy/scram.js';

// RFC 7677 section 3: user "user", password "pencil".
const clientFirstBare = 'n=user,r=rOprNGfwEbeRWgbNEkqO';
const serverFirst = 'r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096';
const finalWithoutProof = 'c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0';
const authMessage = `${clientFirstBare},${serverFirst},${finalWithoutProof}`;
const salt = Buffer.from('W22ZaJ0SNY7soEsUEjb6gQ==', 'base64');

describe('SCRAM-SHA-256', () => {
  it("computes RFC 7677's proof and server signature", async () => {
    const { clientKey, secret } = await passwordKeys('pencil', salt, 4096);
    expect(clientProof(clientKey, secret.storedKey, authMessage).toString('base64')).toBe('dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=');
    expect(serverSignature(secret.serverKey, authMessage)).toBe('6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=');
  });

  it('recovers ClientKey from a proof with StoredKey alone, and only the right proof gives the key of StoredKey', async () => {
    const { clientKey, secret } = await passwordKeys('pencil', salt, 4096);
    const proof = Buffer.from('dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=', 'base64');
    const recovered = xor(proof, hmac(secret.storedKey, authMessage));
    expect(recovered).toEqual(clientKey);
    expect(sha256(recovered)).toEqual(secret.storedKey);
    const wrong = (await passwordKeys('pencils', salt, 4096)).clientKey;
    expect(sha256(xor(clientProof(wrong, secret.storedKey, authMessage), hmac(secret.storedKey, authMessage)))).not.toEqual(secret.storedKey);
  });

  it("reads PostgreSQL's stored secret, and nothing else as one", async () => {
    const { secret } = await passwordKeys('pencil', salt, 4096);
    const stored = `SCRAM-SHA-256$4096:${salt.toString('base64')}$${secret.storedKey.toString('base64')}:${secret.serverKey.toString('base64')}`;
    expect(parseScramSecret(stored)).toEqual(secret);
    for (const other of [undefined, '', 'md5c0c5b2f0d0a5f3a9e3b1d1c8b7a6f5e4', 'pencil', stored.replace(/:[^:]+$/, ':c2hvcnQ=')]) {
      expect(parseScramSecret(other)).toBeUndefined();
    }
  });

  it("derives the auth role's keys once for a salt and iteration count, and anew for others", async () => {
    const keys = new PasswordKeys('pencil');
    const first = keys.derive(salt.toString('base64'), 4096);
    expect(keys.derive(salt.toString('base64'), 4096)).toBe(first);
    expect(await first).toEqual(await passwordKeys('pencil', salt, 4096));
    const other = keys.derive(salt.toString('base64'), 4097);
    expect(other).not.toBe(first);
    expect((await other).secret.iterations).toBe(4097);
  });
});
