// The auth role's own login, on the connection the proxy keeps for the auth query: trust, password, md5, or SCRAM
// with the configured password.

import { createHash } from 'node:crypto';
import type net from 'node:net';
import type { AuthRole } from './auth-query.js';
import { readAuthenticationCode, readAuthenticationData, readBackendKeyData, readErrorFields, readSaslMechanisms } from './backend-read.js';
import { passwordMessage } from './frontend-write.js';
import type { MessageReader } from './message-reader.js';
import { PgError } from './pg-error.js';
import { AuthRequest, BackendMessage } from './protocol.js';
import { passwordKeys, type ScramSecret } from './scram.js';
import { ScramClient } from './upstream-login.js';

type Keys = Awaited<ReturnType<typeof passwordKeys>>;

/**
 * The SCRAM keys of the auth role's password for the salt and iteration count the server gives, derived once: PBKDF2
 * is the costly part of a login, and it comes out the same at every login until the role's password changes.
 */
export class PasswordKeys {
  private last: { salt: string; iterations: number; keys: Promise<Keys> } | undefined;

  /** Without a password, only a server that asks for none lets the auth role in. */
  constructor(private readonly password: string | undefined) {}

  derive(salt: string, iterations: number): Promise<Keys> {
    if (this.last?.salt !== salt || this.last.iterations !== iterations) {
      const keys = passwordKeys(required(this.password), Buffer.from(salt, 'base64'), iterations);
      this.last = { salt, iterations, keys };
      keys.catch(() => {
        if (this.last?.keys === keys) this.last = undefined;
      });
    }
    return this.last.keys;
  }
}

export type BackendKey = ReturnType<typeof readBackendKeyData>;

/** Answers the server's authentication requests until it is ready for a query; resolves to the backend's cancel key. */
export async function logIn(socket: net.Socket, messages: MessageReader, role: AuthRole, keys: PasswordKeys): Promise<BackendKey | undefined> {
  let scram: { client: ScramClient; secret?: ScramSecret } | undefined;
  let backendKey: BackendKey | undefined;
  for (;;) {
    const frame = await messages.next();
    if (frame[0] === BackendMessage.ErrorResponse) throw upstreamError(frame);
    if (frame[0] === BackendMessage.ReadyForQuery) return backendKey;
    if (frame[0] === BackendMessage.BackendKeyData) backendKey = readBackendKeyData(frame);
    if (frame[0] !== BackendMessage.Authentication) continue;
    const request = readAuthenticationCode(frame);
    switch (request) {
      case AuthRequest.Ok:
        break;
      case AuthRequest.CleartextPassword:
        socket.write(passwordMessage(required(role.password)));
        break;
      case AuthRequest.MD5Password:
        socket.write(passwordMessage(md5Password(role.user, required(role.password), readAuthenticationData(frame))));
        break;
      case AuthRequest.SASL:
        scram = { client: new ScramClient(readSaslMechanisms(frame), socket) };
        socket.write(scram.client.initialResponse());
        break;
      case AuthRequest.SASLContinue: {
        if (!scram) throw new Error('the server continued a SASL exchange that had not begun');
        const { salt, iterations } = scram.client.challenge(frame);
        const { clientKey, secret } = await keys.derive(salt, iterations);
        scram.secret = secret;
        socket.write(scram.client.finalResponse(clientKey, secret.storedKey));
        break;
      }
      case AuthRequest.SASLFinal:
        if (!scram?.secret) throw new Error('the server ended a SASL exchange that had not begun');
        scram.client.verifyOutcome(frame, scram.secret.serverKey);
        break;
      default:
        throw new Error(`the server asks the auth role for an authentication method the proxy does not support (request ${request})`);
    }
  }
}

/** An ErrorResponse of the upstream's, with its SQLSTATE. */
export function upstreamError(frame: Buffer): PgError {
  const fields = readErrorFields(frame);
  return new PgError(fields.get('C') ?? '', fields.get('M') ?? '', { severity: 'FATAL' });
}

function required(password: string | undefined): string {
  if (password === undefined) throw new Error("the server asks for the auth role's password, and none is configured (--auth-password)");
  return password;
}

/** "md5" + md5(md5(password + user) + salt), as PostgreSQL's md5 method expects. */
function md5Password(user: string, password: string, salt: Buffer): string {
  const inner = createHash('md5').update(password + user).digest('hex');
  return `md5${createHash('md5').update(Buffer.concat([Buffer.from(inner), salt])).digest('hex')}`;
}
