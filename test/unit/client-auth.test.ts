// The proxy's SCRAM server side: the ClientKey it recovers from a right proof, and PostgreSQL's refusals of wrong
// messages.

import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { readAuthenticationData } from '../../proxy/backend-read.js';
import { ScramServer } from '../../proxy/client-auth.js';
import { saslInitialResponse, saslResponse } from '../../proxy/frontend-write.js';
import { clientProof, passwordKeys, serverSignature } from '../../proxy/scram.js';

const salt = randomBytes(16);
const PROOF = randomBytes(32).toString('base64');

/** A server challenged with `salt`, after the client's first message; returns it with the server's nonce. */
function challenged(): { server: ScramServer; serverFirst: string; nonce: string } {
  const server = new ScramServer(new net.Socket());
  server.receiveFirst(saslInitialResponse('SCRAM-SHA-256', 'n,,n=,r=client-nonce'));
  const serverFirst = readAuthenticationData(server.challenge(salt.toString('base64'), 4096)).toString('latin1');
  return { server, serverFirst, nonce: /^r=([^,]+)/.exec(serverFirst)![1]! };
}

async function exchange(password: string) {
  const { clientKey } = await passwordKeys(password, salt, 4096);
  const { secret } = await passwordKeys('pencil', salt, 4096);
  const { server, serverFirst, nonce } = challenged();
  const withoutProof = `c=biws,r=${nonce}`;
  const authMessage = `n=,r=client-nonce,${serverFirst},${withoutProof}`;
  server.receiveFinal(saslResponse(`${withoutProof},p=${clientProof(clientKey, secret.storedKey, authMessage).toString('base64')}`));
  return { server, clientKey, secret, authMessage };
}

describe('the SCRAM server towards clients', () => {
  it('offers only SCRAM-SHA-256 on a connection without TLS, and extends the client nonce with its own', () => {
    const { server, serverFirst, nonce } = challenged();
    expect(server.mechanisms).toEqual(['SCRAM-SHA-256']);
    expect(nonce.startsWith('client-nonce')).toBe(true);
    expect(nonce.length).toBeGreaterThan('client-nonce'.length + 20);
    expect(serverFirst).toBe(`r=${nonce},s=${salt.toString('base64')},i=4096`);
  });

  it('recovers the ClientKey from a right proof, and signs the exchange as the client expects', async () => {
    const { server, clientKey, secret, authMessage } = await exchange('pencil');
    expect(server.clientKey(secret.storedKey)).toEqual(clientKey);
    expect(readAuthenticationData(server.outcome(secret.serverKey)).toString('latin1')).toBe(`v=${serverSignature(secret.serverKey, authMessage)}`);
  });

  it('recovers nothing from the proof of a wrong password', async () => {
    const { server, secret } = await exchange('pencils');
    expect(server.clientKey(secret.storedKey)).toBeUndefined();
  });

  it.each([
    ['SCRAM-SHA-256-PLUS', 'p=tls-server-end-point,,n=,r=x', '08P01', 'client selected an invalid SASL authentication mechanism'],
    ['SCRAM-SHA-1', 'n,,n=,r=x', '08P01', 'client selected an invalid SASL authentication mechanism'],
    ['SCRAM-SHA-256', 'p=tls-server-end-point,,n=,r=x', '08P01', 'malformed SCRAM message'],
    ['SCRAM-SHA-256', 'x,,n=,r=x', '08P01', 'malformed SCRAM message'],
    ['SCRAM-SHA-256', 'n,a=admin,n=,r=x', '0A000', 'client uses authorization identity, but it is not supported'],
    ['SCRAM-SHA-256', 'n,,m=ext,n=,r=x', '0A000', 'client requires an unsupported SCRAM extension'],
    ['SCRAM-SHA-256', 'n,,n=', '08P01', 'malformed SCRAM message'],
    ['SCRAM-SHA-256', 'n,,n=,r=', '08P01', 'malformed SCRAM message'],
    ['SCRAM-SHA-256', '', '08P01', 'malformed SCRAM message'],
  ])('refuses %s with %j: %s %s', (mechanism, data, sqlstate, message) => {
    const server = new ScramServer(new net.Socket());
    expect(() => server.receiveFirst(saslInitialResponse(mechanism, data))).toThrowError(expect.objectContaining({ sqlstate, message, severity: 'FATAL' }));
  });

  it.each([
    ['another channel binding flag', (nonce: string) => `c=eSws,r=${nonce},p=${PROOF}`, '28000', 'SCRAM channel binding check failed'],
    ['another nonce', () => `c=biws,r=client-nonce-other,p=${PROOF}`, '08P01', 'malformed SCRAM message'],
    ['no proof', (nonce: string) => `c=biws,r=${nonce}`, '08P01', 'malformed SCRAM message'],
    ['a proof that is not base64', (nonce: string) => `c=biws,r=${nonce},p=not*base64`, '08P01', 'malformed SCRAM message'],
    ['a proof too short', (nonce: string) => `c=biws,r=${nonce},p=${PROOF.slice(0, 24)}`, '08P01', 'malformed SCRAM message'],
  ])('refuses a final message with %s', (_what, final, sqlstate, message) => {
    const { server, nonce } = challenged();
    expect(() => server.receiveFinal(saslResponse(final(nonce)))).toThrowError(expect.objectContaining({ sqlstate, message }));
  });
});
