// Encodes the messages the proxy sends to a client in the server's role: its own errors, the rewritten SASL
// mechanism list and its own backend key. Everything else the client receives is the upstream's bytes.

import { AuthRequest, BackendMessage } from './protocol.js';
import type { PgError } from './pg-error.js';

function message(type: number, body: Buffer): Buffer {
  const frame = Buffer.allocUnsafe(5 + body.length);
  frame[0] = type;
  frame.writeInt32BE(4 + body.length, 1);
  body.copy(frame, 5);
  return frame;
}

function cstrings(values: string[]): Buffer {
  return Buffer.concat(values.map((value) => Buffer.from(`${value}\0`, 'utf8')));
}

export function errorResponse(error: PgError): Buffer {
  const fields: string[] = [`S${error.severity}`, `V${error.severity}`, `C${error.sqlstate}`, `M${error.message}`];
  if (error.detail !== undefined) fields.push(`D${error.detail}`);
  if (error.hint !== undefined) fields.push(`H${error.hint}`);
  return message(BackendMessage.ErrorResponse, Buffer.concat([cstrings(fields), Buffer.from([0])]));
}

export function authenticationSASL(mechanisms: string[]): Buffer {
  const code = Buffer.alloc(4);
  code.writeInt32BE(AuthRequest.SASL, 0);
  return message(BackendMessage.Authentication, Buffer.concat([code, cstrings(mechanisms), Buffer.from([0])]));
}

export function backendKeyData(processId: number, secret: Buffer): Buffer {
  const body = Buffer.allocUnsafe(4 + secret.length);
  body.writeInt32BE(processId, 0);
  secret.copy(body, 4);
  return message(BackendMessage.BackendKeyData, body);
}

/** The single-byte answer to SSLRequest or GSSENCRequest: 'S' to go ahead, 'N' to decline. */
export function negotiationAnswer(accept: boolean): Buffer {
  return Buffer.from(accept ? 'S' : 'N');
}
