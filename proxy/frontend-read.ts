// Decodes what a client sends before it is a session: the untyped startup-phase packets (StartupMessage,
// SSLRequest, GSSENCRequest, CancelRequest). Typed messages after startup are framed, never decoded, here.

import { PROTOCOL_MAJOR, RequestCode } from './protocol.js';
import { PgError, SqlState } from './pg-error.js';

export type StartupPacket =
  | { kind: 'SSLRequest' }
  | { kind: 'GSSENCRequest' }
  | { kind: 'CancelRequest'; processId: number; secret: Buffer }
  | { kind: 'StartupMessage'; minorVersion: number; parameters: Map<string, string> };

/** Decodes one complete startup-phase packet, length field included. */
export function readStartupPacket(packet: Buffer): StartupPacket {
  const code = packet.readInt32BE(4);
  switch (code) {
    case RequestCode.SSLRequest:
      return { kind: 'SSLRequest' };
    case RequestCode.GSSENCRequest:
      return { kind: 'GSSENCRequest' };
    case RequestCode.CancelRequest:
      if (packet.length < 16) throw protocolViolation('invalid length of cancel request packet');
      return { kind: 'CancelRequest', processId: packet.readInt32BE(8), secret: Buffer.from(packet.subarray(12)) };
  }
  const major = code >>> 16;
  if (major !== PROTOCOL_MAJOR) {
    throw new PgError(
      SqlState.FeatureNotSupported,
      `unsupported frontend protocol ${major}.${code & 0xffff}: server supports 3.0 to 3.2`,
      { severity: 'FATAL' },
    );
  }
  return { kind: 'StartupMessage', minorVersion: code & 0xffff, parameters: readParameters(packet) };
}

/** The name/value pairs of a StartupMessage: NUL-terminated strings ending with an empty name. */
function readParameters(packet: Buffer): Map<string, string> {
  const parameters = new Map<string, string>();
  let offset = 8;
  for (;;) {
    const nameEnd = packet.indexOf(0, offset);
    if (nameEnd < 0) throw protocolViolation('invalid startup packet layout: expected terminator as last byte');
    if (nameEnd === offset) break;
    const valueEnd = packet.indexOf(0, nameEnd + 1);
    if (valueEnd < 0) throw protocolViolation('invalid startup packet layout: expected terminator as last byte');
    parameters.set(packet.toString('utf8', offset, nameEnd), packet.toString('utf8', nameEnd + 1, valueEnd));
    offset = valueEnd + 1;
  }
  if (offset !== packet.length - 1) {
    throw protocolViolation('invalid startup packet layout: expected terminator as last byte');
  }
  if (!parameters.get('user')) {
    throw new PgError('28000', 'no PostgreSQL user name specified in startup packet', { severity: 'FATAL' });
  }
  return parameters;
}

function protocolViolation(message: string): PgError {
  return new PgError(SqlState.ProtocolViolation, message, { severity: 'FATAL' });
}
