// A client's SCRAM login when an auth role is configured: the proxy is the SCRAM server towards the client and the
// SCRAM client towards the upstream, so each TLS hop is bound on its own, and it logs in upstream with the ClientKey
// recovered from the client's proof. The salt and iteration count the client is given are the upstream's own: a
// role that does not exist, or has no SCRAM secret, meets PostgreSQL's mock exchange exactly as a direct client
// would, and a login that must fail is refused by the upstream itself, in its own words and its own log.
//
// Each side's messages are handled as they come; the client's first message is answered once the upstream's
// challenge and the role's secret for it are both in.

import { randomBytes } from 'node:crypto';
import type net from 'node:net';
import { authenticationSASL } from './backend-write.js';
import { readAuthenticationCode, readSaslMechanisms } from './backend-read.js';
import { ScramServer } from './client-auth.js';
import { PgError, SqlState } from './pg-error.js';
import { AuthRequest, FrontendMessage } from './protocol.js';
import type { ScramSecret } from './scram.js';
import type { Challenge, ScramSecrets } from './scram-secrets.js';
import { ScramClient } from './upstream-login.js';

export interface BridgeIo {
  toClient(frame: Buffer): void;
  toUpstream(frame: Buffer): void;
  fail(error: unknown): void;
}

/**
 * first: until the client is challenged; final: until its final message; upstream: until the upstream's signature;
 * verified: until the upstream's AuthenticationOk.
 */
type Step = 'first' | 'final' | 'upstream' | 'verified';

export class ScramBridge {
  private readonly server: ScramServer;
  private readonly login: ScramClient;
  private step: Step = 'first';
  private clientFirstIn = false;
  private challenge: Challenge | undefined;
  /** Undefined while being looked up; null when the role has none for the challenge, or the client's proof failed. */
  private secret: ScramSecret | null | undefined;

  /** Takes over from the upstream's AuthenticationSASL: answers it, and offers the client SCRAM of its own. */
  constructor(
    saslRequest: Buffer,
    private readonly user: string,
    sockets: { client: net.Socket; upstream: net.Socket },
    private readonly secrets: ScramSecrets,
    private readonly io: BridgeIo,
  ) {
    this.login = new ScramClient(readSaslMechanisms(saslRequest), sockets.upstream);
    this.server = new ScramServer(sockets.client);
    io.toUpstream(this.login.initialResponse());
    io.toClient(authenticationSASL(this.server.mechanisms));
  }

  /** A SASL message from the client, in its turn; anything else is a protocol violation, as in PostgreSQL. */
  clientMessage(frame: Buffer): void {
    if (frame[0] === FrontendMessage.PasswordMessage && this.step === 'first' && !this.clientFirstIn) {
      this.server.receiveFirst(frame);
      this.clientFirstIn = true;
      this.answerClient();
      return;
    }
    if (frame[0] !== FrontendMessage.PasswordMessage || this.step !== 'final') {
      throw new PgError(SqlState.ProtocolViolation, `unexpected message type ${frame[0]} during SASL authentication`, { severity: 'FATAL' });
    }
    this.server.receiveFinal(frame);
    this.step = 'upstream';
    const { secret } = this;
    const clientKey = secret ? this.server.clientKey(secret.storedKey) : undefined;
    if (secret && clientKey) {
      this.io.toUpstream(this.login.finalResponse(clientKey, secret.storedKey));
      return;
    }
    // A proof from a random key fails upstream, which then refuses the login and logs it as it would a direct one.
    this.secret = null;
    this.secrets.forget(this.user);
    this.io.toUpstream(this.login.finalResponse(randomBytes(32), randomBytes(32)));
  }

  /**
   * An Authentication message from the upstream. Returns true for the AuthenticationOk that ends the exchange, which
   * the client is to get next.
   */
  upstreamMessage(frame: Buffer): boolean {
    const request = readAuthenticationCode(frame);
    if (request === AuthRequest.SASLContinue && !this.challenge) {
      const challenge = this.login.challenge(frame);
      this.challenge = challenge;
      this.secrets.secretFor(this.user, challenge).then(
        (secret) => {
          this.secret = secret ?? null;
          this.answerClient();
        },
        (error: unknown) => this.io.fail(error),
      );
      return false;
    }
    if (request === AuthRequest.SASLFinal && this.step === 'upstream' && this.secret) {
      this.login.verifyOutcome(frame, this.secret.serverKey);
      this.io.toClient(this.server.outcome(this.secret.serverKey));
      this.step = 'verified';
      return false;
    }
    if (request === AuthRequest.Ok && this.step === 'verified') return true;
    throw new PgError(SqlState.ProtocolViolation, `unexpected authentication request ${request} from the upstream server during SCRAM`, { severity: 'FATAL' });
  }

  /** Sends server-first-message once the client's first message and the secret for the upstream's challenge are in. */
  private answerClient(): void {
    const { challenge, secret } = this;
    if (this.step !== 'first' || !this.clientFirstIn || !challenge || secret === undefined) return;
    this.step = 'final';
    this.io.toClient(this.server.challenge(challenge.salt, challenge.iterations));
  }
}
