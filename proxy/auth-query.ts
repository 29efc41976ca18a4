// One short connection as the auth role: it logs in (trust, password, md5, or SCRAM with the configured password),
// runs the auth query for one role name, and ends. What the query returns in the last column of its row is the
// role's stored password; no row, or NULL, means it has none.

import { createHash } from 'node:crypto';
import type net from 'node:net';
import { readAuthenticationCode, readAuthenticationData, readDataRow, readErrorFields, readSaslMechanisms } from './backend-read.js';
import { bind, execute, parse, passwordMessage, startupMessage, sync, terminate } from './frontend-write.js';
import { MessageReader } from './message-reader.js';
import { AuthRequest, BackendMessage } from './protocol.js';
import { passwordKeys, type ScramSecret } from './scram.js';
import { connectUpstream, type UpstreamTarget } from './upstream.js';
import { ScramClient } from './upstream-login.js';

export interface AuthRole {
  user: string;
  /** Not needed when the upstream trusts the auth role. */
  password?: string;
  database: string;
  /** Takes the role name as $1. */
  query: string;
}

/** The stored password the auth query returns for `user`, if any. Rejects with the reason the lookup failed. */
export async function runAuthQuery(target: UpstreamTarget, role: AuthRole, user: string): Promise<string | undefined> {
  const socket = await connectUpstream(target);
  const timer = setTimeout(() => socket.destroy(new Error(`no answer within ${target.connectTimeoutMs} ms`)), target.connectTimeoutMs);
  const messages = new MessageReader(socket);
  try {
    socket.write(startupMessage({ user: role.user, database: role.database, application_name: 'pg_llm_proxy auth query' }));
    await logIn(socket, messages, role);
    socket.write(Buffer.concat([parse('', role.query), bind('', '', [user]), execute(''), sync()]));
    let stored: string | undefined;
    for (;;) {
      const frame = await messages.next();
      if (frame[0] === BackendMessage.ErrorResponse) throw upstreamError(frame);
      if (frame[0] === BackendMessage.ReadyForQuery) return stored;
      if (frame[0] !== BackendMessage.DataRow) continue;
      if (stored !== undefined) throw new Error('the auth query returned more than one row');
      stored = readDataRow(frame).at(-1)?.toString('utf8') ?? '';
    }
  } finally {
    clearTimeout(timer);
    if (!socket.destroyed) socket.end(terminate(), () => socket.destroy());
  }
}

/** Answers the server's authentication requests until it is ready for a query. */
async function logIn(socket: net.Socket, messages: MessageReader, role: AuthRole): Promise<void> {
  let scram: { client: ScramClient; secret?: ScramSecret } | undefined;
  for (;;) {
    const frame = await messages.next();
    if (frame[0] === BackendMessage.ErrorResponse) throw upstreamError(frame);
    if (frame[0] === BackendMessage.ReadyForQuery) return;
    if (frame[0] !== BackendMessage.Authentication) continue;
    const request = readAuthenticationCode(frame);
    switch (request) {
      case AuthRequest.Ok:
        break;
      case AuthRequest.CleartextPassword:
        socket.write(passwordMessage(password(role)));
        break;
      case AuthRequest.MD5Password:
        socket.write(passwordMessage(md5Password(role.user, password(role), readAuthenticationData(frame))));
        break;
      case AuthRequest.SASL:
        scram = { client: new ScramClient(readSaslMechanisms(frame), socket) };
        socket.write(scram.client.initialResponse());
        break;
      case AuthRequest.SASLContinue: {
        if (!scram) throw new Error('the server continued a SASL exchange that had not begun');
        const { salt, iterations } = scram.client.challenge(frame);
        const keys = await passwordKeys(password(role), Buffer.from(salt, 'base64'), iterations);
        scram.secret = keys.secret;
        socket.write(scram.client.finalResponse(keys.clientKey, keys.secret.storedKey));
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

function password(role: AuthRole): string {
  if (role.password === undefined) throw new Error('the server asks for the auth role\'s password, and none is configured (--auth-password)');
  return role.password;
}

/** "md5" + md5(md5(password + user) + salt), as PostgreSQL's md5 method expects. */
function md5Password(user: string, password: string, salt: Buffer): string {
  const inner = createHash('md5').update(password + user).digest('hex');
  return `md5${createHash('md5').update(Buffer.concat([Buffer.from(inner), salt])).digest('hex')}`;
}

function upstreamError(frame: Buffer): Error {
  const fields = readErrorFields(frame);
  return new Error(`${fields.get('M')} (SQLSTATE ${fields.get('C')})`);
}
