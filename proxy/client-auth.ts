// The proxy as SCRAM server to a client. It offers SCRAM-SHA-256-PLUS bound to its own certificate when the client
// came over TLS (and SCRAM-SHA-256 always), checks the client's messages as PostgreSQL does, and from the client's
// proof recovers the ClientKey the proxy then logs in upstream with: ClientKey = ClientProof XOR
// HMAC(StoredKey, AuthMessage), which is the key of StoredKey only if the client knew the password.

import type net from 'node:net';
import tls from 'node:tls';
import { authenticationSASLContinue, authenticationSASLFinal } from './backend-write.js';
import { ownCertificateBinding } from './channel-binding.js';
import { readSaslInitialResponse, readSaslResponse } from './frontend-read.js';
import { PgError, SqlState } from './pg-error.js';
import {
  hmac,
  malformed,
  newNonce,
  sameBytes,
  SCRAM_SHA_256,
  SCRAM_SHA_256_PLUS,
  ScramReader,
  serverSignature,
  sha256,
  strictBase64,
  TLS_SERVER_END_POINT,
  validNonce,
  xor,
} from './scram.js';

const PROOF_BYTES = 32;

export class ScramServer {
  /** In the server's order of preference, as PostgreSQL lists them. */
  readonly mechanisms: string[];
  /** tls-server-end-point data of the proxy's certificate on this connection, when it can be bound. */
  private readonly binding: Buffer | undefined;
  private gs2Header = '';
  private clientFirstBare = '';
  private nonce = '';
  private serverFirst = '';
  private authMessage = '';
  private proof: Buffer = Buffer.alloc(0);

  constructor(client: net.Socket) {
    this.binding = client instanceof tls.TLSSocket ? ownCertificateBinding(client) : undefined;
    this.mechanisms = this.binding ? [SCRAM_SHA_256_PLUS, SCRAM_SHA_256] : [SCRAM_SHA_256];
  }

  /** SASLInitialResponse: the chosen mechanism and client-first-message, checked against what was offered. */
  receiveFirst(frame: Buffer): void {
    const { mechanism, data } = readSaslInitialResponse(frame);
    if (!this.mechanisms.includes(mechanism)) {
      throw new PgError(SqlState.ProtocolViolation, 'client selected an invalid SASL authentication mechanism', { severity: 'FATAL' });
    }
    const flagEnd = data.indexOf(',');
    const authzidEnd = data.indexOf(',', flagEnd + 1);
    if (flagEnd < 0 || authzidEnd < 0) throw malformed('Comma expected in the GS2 header of client-first-message.');
    this.checkBindingFlag(mechanism, data.slice(0, flagEnd));
    if (authzidEnd > flagEnd + 1) {
      throw new PgError(SqlState.FeatureNotSupported, 'client uses authorization identity, but it is not supported', { severity: 'FATAL' });
    }
    this.gs2Header = data.slice(0, authzidEnd + 1);
    this.clientFirstBare = data.slice(authzidEnd + 1);
    if (this.clientFirstBare.startsWith('m=')) {
      throw new PgError(SqlState.FeatureNotSupported, 'client requires an unsupported SCRAM extension', { severity: 'FATAL' });
    }
    // PostgreSQL takes the role from the StartupMessage and ignores the user name here; so does the proxy.
    const reader = new ScramReader(this.clientFirstBare);
    reader.attribute('n');
    const clientNonce = reader.attribute('r');
    if (!validNonce(clientNonce)) throw malformed('non-printable characters in SCRAM nonce');
    this.nonce = clientNonce + newNonce();
  }

  private checkBindingFlag(mechanism: string, flag: string): void {
    const plus = mechanism === SCRAM_SHA_256_PLUS;
    if (plus && !flag.startsWith('p=')) {
      throw malformed('The client selected SCRAM-SHA-256-PLUS, but the SCRAM message does not include channel binding data.');
    }
    if (flag === 'n') return;
    if (flag === 'y') {
      if (!this.binding) return;
      throw new PgError(SqlState.InvalidAuthorizationSpecification, 'SCRAM channel binding negotiation error', {
        severity: 'FATAL',
        detail: 'The client supports SCRAM channel binding but thinks the server does not.  However, this server does support channel binding.',
      });
    }
    if (!flag.startsWith('p=')) throw malformed(`Unexpected channel-binding flag "${flag}".`);
    if (!plus) throw malformed('The client selected SCRAM-SHA-256 without channel binding, but the SCRAM message includes channel binding data.');
    const type = flag.slice(2);
    if (type !== TLS_SERVER_END_POINT) {
      throw new PgError(SqlState.ProtocolViolation, `unsupported SCRAM channel-binding type "${type}"`, { severity: 'FATAL' });
    }
  }

  /** AuthenticationSASLContinue with server-first-message: the salt and iteration count the upstream uses. */
  challenge(salt: string, iterations: number): Buffer {
    this.serverFirst = `r=${this.nonce},s=${salt},i=${iterations}`;
    return authenticationSASLContinue(this.serverFirst);
  }

  /** SASLResponse with client-final-message: checks the channel binding and the nonce, and keeps the proof. */
  receiveFinal(frame: Buffer): void {
    const data = readSaslResponse(frame);
    const proofAt = data.lastIndexOf(',p=');
    if (proofAt < 0) throw malformed('Could not find proof in client-final-message.');
    const withoutProof = data.slice(0, proofAt);
    const reader = new ScramReader(withoutProof);
    const expected = Buffer.concat([Buffer.from(this.gs2Header, 'latin1'), this.gs2Header.startsWith('p=') ? this.binding! : Buffer.alloc(0)]);
    if (reader.attribute('c') !== expected.toString('base64')) {
      throw new PgError(SqlState.InvalidAuthorizationSpecification, 'SCRAM channel binding check failed', { severity: 'FATAL' });
    }
    if (reader.attribute('r') !== this.nonce) throw malformed('Nonce does not match.');
    this.proof = strictBase64(data.slice(proofAt + 3), 'proof in client-final-message');
    if (this.proof.length !== PROOF_BYTES) throw malformed('Malformed proof in client-final-message.');
    this.authMessage = `${this.clientFirstBare},${this.serverFirst},${withoutProof}`;
  }

  /** The ClientKey the proof carries, if it is the key of `storedKey` (the client knew the password). */
  clientKey(storedKey: Buffer): Buffer | undefined {
    const key = xor(this.proof, hmac(storedKey, this.authMessage));
    return sameBytes(sha256(key), storedKey) ? key : undefined;
  }

  /** AuthenticationSASLFinal: server-final-message, proving to the client that the proxy holds ServerKey. */
  outcome(serverKey: Buffer): Buffer {
    return authenticationSASLFinal(`v=${serverSignature(serverKey, this.authMessage)}`);
  }
}
