// Encodes the messages the proxy itself sends to the upstream as a frontend: its own startup-phase requests, its
// side of the logins it makes itself, and the extended-protocol requests the interception engine runs in the
// client's session.

import { FrontendMessage, PROTOCOL_MAJOR, RequestCode, type ObjectKind } from './protocol.js';

export function sslRequest(): Buffer {
  const packet = Buffer.alloc(8);
  packet.writeInt32BE(8, 0);
  packet.writeInt32BE(RequestCode.SSLRequest, 4);
  return packet;
}

/** A CancelRequest; `secret` is 4 bytes in protocol 3.0 and up to 256 in 3.2. */
export function cancelRequest(processId: number, secret: Buffer): Buffer {
  const packet = Buffer.alloc(12 + secret.length);
  packet.writeInt32BE(packet.length, 0);
  packet.writeInt32BE(RequestCode.CancelRequest, 4);
  packet.writeInt32BE(processId, 8);
  secret.copy(packet, 12);
  return packet;
}

/**
 * A StartupMessage of protocol 3.`minorVersion`: for the connections the proxy opens as a role of its own (the auth
 * role), and a client's, with parameters the interception held back (SessionInterception).
 */
export function startupMessage(parameters: Record<string, string> | ReadonlyMap<string, string>, minorVersion = 0): Buffer {
  const entries = parameters instanceof Map ? [...parameters] : Object.entries(parameters);
  const pairs = entries.flatMap(([name, value]) => [cstring(name), cstring(value)]);
  const body = Buffer.concat([int32((PROTOCOL_MAJOR << 16) | minorVersion), ...pairs, Buffer.from([0])]);
  return Buffer.concat([int32(4 + body.length), body]);
}

export function passwordMessage(password: string): Buffer {
  return message(FrontendMessage.PasswordMessage, [cstring(password)]);
}

/** The first message of a SASL exchange: the chosen mechanism and the client's first message. */
export function saslInitialResponse(mechanism: string, data: string): Buffer {
  const bytes = Buffer.from(data, 'latin1');
  return message(FrontendMessage.PasswordMessage, [cstring(mechanism), int32(bytes.length), bytes]);
}

export function saslResponse(data: string): Buffer {
  return message(FrontendMessage.PasswordMessage, [Buffer.from(data, 'latin1')]);
}

export function terminate(): Buffer {
  return Buffer.from([FrontendMessage.Terminate, 0, 0, 0, 4]);
}

/** The frame of the parts, copied once: a Bind's parameters may be tens of megabytes. */
function message(type: number, parts: Buffer[]): Buffer {
  let length = 4;
  for (const part of parts) length += part.length;
  const frame = Buffer.allocUnsafe(1 + length);
  frame[0] = type;
  let offset = frame.writeInt32BE(length, 1);
  for (const part of parts) offset += part.copy(frame, offset);
  return frame;
}

function cstring(text: string): Buffer {
  return Buffer.from(`${text}\0`, 'utf8');
}

function int16(value: number): Buffer {
  const buffer = Buffer.allocUnsafe(2);
  buffer.writeInt16BE(value, 0);
  return buffer;
}

function int32(value: number): Buffer {
  const buffer = Buffer.allocUnsafe(4);
  buffer.writeInt32BE(value, 0);
  return buffer;
}

export function query(sql: string): Buffer {
  return message(FrontendMessage.Query, [cstring(sql)]);
}

export function parse(statement: string, sql: string, parameterTypes: number[] = []): Buffer {
  return message(FrontendMessage.Parse, [cstring(statement), cstring(sql), int16(parameterTypes.length), ...parameterTypes.map(int32)]);
}

/** A Bind's text parameter: SQL NULL, a string, or text encoded as UTF-8 already, in pieces. */
export type TextParameter = string | null | readonly Buffer[];

/**
 * Bind with text parameters and text results. A parameter given in pieces stays in them, the message then being the
 * pieces to write in order: the proxy's own Binds may carry a statement's model answers, tens of megabytes, which a
 * copy into one frame held the event loop for.
 */
export function bind(portal: string, statement: string, parameters?: Array<string | null>): Buffer;
export function bind(portal: string, statement: string, parameters: TextParameter[]): Buffer | Buffer[];
export function bind(portal: string, statement: string, parameters: TextParameter[] = []): Buffer | Buffer[] {
  const parts = [cstring(portal), cstring(statement), int16(0), int16(parameters.length)];
  for (const value of parameters) {
    if (value === null) parts.push(int32(-1));
    else if (typeof value === 'string') {
      const bytes = Buffer.from(value, 'utf8');
      parts.push(int32(bytes.length), bytes);
    } else parts.push(int32(value.reduce((sum, piece) => sum + piece.length, 0)), ...value);
  }
  parts.push(int16(0));
  if (parameters.every((value) => !Array.isArray(value))) return message(FrontendMessage.Bind, parts);
  const head = Buffer.allocUnsafe(5);
  head[0] = FrontendMessage.Bind;
  head.writeInt32BE(parts.reduce((sum, part) => sum + part.length, 4), 1);
  return [head, ...parts];
}

/** A Bind that reuses another Bind's parameters and result formats (`rest`, everything after the two names). */
export function rebind(portal: string, statement: string, rest: Buffer): Buffer {
  return message(FrontendMessage.Bind, [cstring(portal), cstring(statement), rest]);
}

/** A Bind with another Bind's parameter section (formats and values) and result formats of its own. */
export function bindParameters(portal: string, statement: string, parameterSection: Buffer, resultFormats: number[]): Buffer {
  return Buffer.concat(bindParameterPieces(portal, statement, parameterSection, resultFormats));
}

/**
 * bindParameters' message as the pieces to write in order, the parameter section one of them as it is: a client's
 * Bind may carry tens of megabytes, which a copy into one frame held the event loop for.
 */
export function bindParameterPieces(portal: string, statement: string, parameterSection: Buffer, resultFormats: number[]): Buffer[] {
  const head = message(FrontendMessage.Bind, [cstring(portal), cstring(statement)]);
  const tail = Buffer.concat([int16(resultFormats.length), ...resultFormats.map(int16)]);
  head.writeInt32BE(head.length - 1 + parameterSection.length + tail.length, 1);
  return [head, parameterSection, tail];
}

export function describe(kind: ObjectKind, name: string): Buffer {
  return message(FrontendMessage.Describe, [Buffer.from(kind), cstring(name)]);
}

export function execute(portal: string, maxRows = 0): Buffer {
  return message(FrontendMessage.Execute, [cstring(portal), int32(maxRows)]);
}

export function close(kind: ObjectKind, name: string): Buffer {
  return message(FrontendMessage.Close, [Buffer.from(kind), cstring(name)]);
}

export function sync(): Buffer {
  return Buffer.from([FrontendMessage.Sync, 0, 0, 0, 4]);
}

export function flush(): Buffer {
  return Buffer.from([FrontendMessage.Flush, 0, 0, 0, 4]);
}
