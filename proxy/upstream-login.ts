// The proxy as SCRAM client to the upstream: it logs in as a client's role with the ClientKey recovered from that
// client's proof, or as the auth role with the keys of its password. The exchange is bound to the upstream TLS
// connection when the server offers SCRAM-SHA-256-PLUS, and the server's signature must prove it holds the role's
// ServerKey before the login counts.

import type net from 'node:net';
import { readAuthenticationData } from './backend-read.js';
import { peerCertificateBinding } from './channel-binding.js';
import { saslInitialResponse, saslResponse } from './frontend-write.js';
import { PgError, SqlState } from './pg-error.js';
import {
  clientProof,
  malformed,
  newNonce,
  sameBytes,
  SCRAM_SHA_256,
  SCRAM_SHA_256_PLUS,
  ScramReader,
  serverSignature,
  strictBase64,
  TLS_SERVER_END_POINT,
} from './scram.js';

export class ScramClient {
  readonly mechanism: string;
  private readonly gs2Header: string;
  /** tls-server-end-point data of the upstream's certificate, when the exchange is bound to it. */
  private readonly binding: Buffer | undefined;
  private readonly clientNonce = newNonce();
  private serverFirst = '';
  private nonce = '';
  private authMessage = '';

  /** Chooses among the mechanisms of the upstream's AuthenticationSASL, with binding when the connection allows. */
  constructor(offered: string[], upstream: net.Socket) {
    const binding = peerCertificateBinding(upstream);
    if (binding && offered.includes(SCRAM_SHA_256_PLUS)) {
      this.mechanism = SCRAM_SHA_256_PLUS;
      this.gs2Header = `p=${TLS_SERVER_END_POINT},,`;
      this.binding = binding;
    } else if (offered.includes(SCRAM_SHA_256)) {
      this.mechanism = SCRAM_SHA_256;
      // "y": this client could bind, but the server offers no binding; a server that could is then warned of a downgrade.
      this.gs2Header = binding ? 'y,,' : 'n,,';
    } else {
      throw new PgError(SqlState.SqlclientUnableToEstablishSqlconnection, "none of the upstream server's SASL authentication mechanisms are supported", {
        severity: 'FATAL',
      });
    }
  }

  /** SASLInitialResponse; PostgreSQL takes the role from the StartupMessage, so the user name is left empty. */
  initialResponse(): Buffer {
    return saslInitialResponse(this.mechanism, `${this.gs2Header}${this.clientFirstBare}`);
  }

  private get clientFirstBare(): string {
    return `n=,r=${this.clientNonce}`;
  }

  /** AuthenticationSASLContinue: the server's nonce, the role's salt (base64, as sent) and iteration count. */
  challenge(frame: Buffer): { salt: string; iterations: number } {
    this.serverFirst = readAuthenticationData(frame).toString('latin1');
    const reader = new ScramReader(this.serverFirst);
    this.nonce = reader.attribute('r');
    const salt = reader.attribute('s');
    const iterations = Number(reader.attribute('i'));
    if (!this.nonce.startsWith(this.clientNonce) || this.nonce.length === this.clientNonce.length) {
      throw malformed("The upstream server's nonce does not extend the proxy's.");
    }
    if (!Number.isSafeInteger(iterations) || iterations < 1) throw malformed('Invalid SCRAM iteration count.');
    strictBase64(salt, 'salt in server-first-message');
    return { salt, iterations };
  }

  /** SASLResponse with client-final-message: the proof of ClientKey, whose StoredKey the server holds. */
  finalResponse(clientKey: Buffer, storedKey: Buffer): Buffer {
    const channel = Buffer.concat([Buffer.from(this.gs2Header, 'latin1'), this.binding ?? Buffer.alloc(0)]).toString('base64');
    const withoutProof = `c=${channel},r=${this.nonce}`;
    this.authMessage = `${this.clientFirstBare},${this.serverFirst},${withoutProof}`;
    return saslResponse(`${withoutProof},p=${clientProof(clientKey, storedKey, this.authMessage).toString('base64')}`);
  }

  /** AuthenticationSASLFinal: the server's signature must be the one only the holder of ServerKey can make. */
  verifyOutcome(frame: Buffer, serverKey: Buffer): void {
    const reader = new ScramReader(readAuthenticationData(frame).toString('latin1'));
    const error = reader.optional('e');
    if (error !== undefined) throw new PgError(SqlState.ConnectionFailure, `the upstream server ended the SCRAM exchange: ${error}`, { severity: 'FATAL' });
    const signature = Buffer.from(reader.attribute('v'), 'latin1');
    if (!sameBytes(signature, Buffer.from(serverSignature(serverKey, this.authMessage), 'latin1'))) {
      throw new PgError(SqlState.ConnectionFailure, 'incorrect server signature from the upstream server', {
        severity: 'FATAL',
        hint: 'The server does not hold the SCRAM secret the proxy was given for this role: check --upstream and the auth query.',
      });
    }
  }
}
