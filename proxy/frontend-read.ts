// Decodes what a client sends before it is a session: the untyped startup-phase packets (StartupMessage,
// SSLRequest, GSSENCRequest, CancelRequest). Typed messages after startup are framed, never decoded, here.

import { FrontendMessage, PROTOCOL_MAJOR, RequestCode } from './protocol.js';
import { MalformedMessage, PgError, SqlState, type ErrorSeverity } from './pg-error.js';
import { serverName } from './server-names.js';

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
      // PostgreSQL only logs this one: the client gets no answer, only the closed connection.
      if (packet.length < 16) throw new Error('invalid length of cancel request packet');
      return { kind: 'CancelRequest', processId: packet.readInt32BE(8), secret: Buffer.from(packet.subarray(12)) };
  }
  if (code >>> 16 !== PROTOCOL_MAJOR) throw unsupportedProtocol(code);
  return { kind: 'StartupMessage', minorVersion: code & 0xffff, parameters: readParameters(packet) };
}

/**
 * PostgreSQL's answer to a protocol version it does not speak; also to an SSLRequest or GSSENCRequest it will not
 * negotiate again, whose code it then reads as a version (1234.5679, 1234.5680).
 */
export function unsupportedProtocol(code: number): PgError {
  return new PgError(SqlState.FeatureNotSupported, `unsupported frontend protocol ${code >>> 16}.${code & 0xffff}: server supports 3.0 to 3.2`, { severity: 'FATAL' });
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

// ---- typed messages the interception engine reads (each takes a whole frame: type, length, body) ----

const BODY = 5;

/**
 * Reads NUL-terminated strings and big-endian integers from a frame, in order, as PostgreSQL's pqformat.c reads
 * them, and fails with its words.
 */
class FrameReader {
  constructor(
    private readonly frame: Buffer,
    private readonly severity: ErrorSeverity = 'ERROR',
    private offset = BODY,
  ) {}

  cstring(): string {
    const end = this.frame.indexOf(0, this.offset);
    if (end < 0) throw this.malformed('invalid string in message');
    const text = this.frame.toString('utf8', this.offset, end);
    this.offset = end + 1;
    return text;
  }

  /** A prepared statement's or portal's name, as PostgreSQL knows it (server-names.ts). */
  name(): string {
    const end = this.frame.indexOf(0, this.offset);
    if (end < 0) throw this.malformed('invalid string in message');
    const name = serverName(this.frame.subarray(this.offset, end));
    this.offset = end + 1;
    return name;
  }

  int16(): number {
    this.need(2);
    const value = this.frame.readInt16BE(this.offset);
    this.offset += 2;
    return value;
  }

  int32(): number {
    this.need(4);
    const value = this.frame.readInt32BE(this.offset);
    this.offset += 4;
    return value;
  }

  byte(): number {
    if (this.offset >= this.frame.length) throw this.malformed('no data left in message');
    return this.frame[this.offset++]!;
  }

  bytes(length: number): Buffer {
    this.need(length);
    const value = this.frame.subarray(this.offset, this.offset + length);
    this.offset += length;
    return value;
  }

  get position(): number {
    return this.offset;
  }

  malformed(message: string): MalformedMessage {
    return new MalformedMessage(message, this.severity);
  }

  private need(length: number): void {
    if (this.offset + length > this.frame.length) throw this.malformed('insufficient data left in message');
  }
}

export function readQuery(frame: Buffer): string {
  return new FrameReader(frame).cstring();
}

/** Where the SQL text of a Query or Parse frame lies, undecoded: [start, end), the end at its NUL or the frame's. */
export function sqlBounds(frame: Buffer): [number, number] {
  if (frame[0] !== FrontendMessage.Parse) return [BODY, Math.max(BODY, frame.length - 1)];
  const start = frame.indexOf(0, BODY) + 1 || frame.length;
  const end = frame.indexOf(0, start);
  return [start, end < 0 ? frame.length : end];
}

export interface ParseMessage {
  statement: string;
  sql: string;
  parameterTypes: number[];
}

export function readParse(frame: Buffer): ParseMessage {
  const reader = new FrameReader(frame);
  const statement = reader.name();
  const sql = reader.cstring();
  const count = reader.int16();
  const parameterTypes: number[] = [];
  for (let i = 0; i < count; i++) parameterTypes.push(reader.int32());
  return { statement, sql, parameterTypes };
}

/** The statement name of a Parse, without decoding its text. */
export function readParseStatement(frame: Buffer): string {
  return new FrameReader(frame).name();
}

export interface BindMessage {
  portal: string;
  statement: string;
  /** Where the parameter format codes begin: the rest of the message after the two names. */
  restOffset: number;
  /** Where the result format codes begin (after the parameters). */
  resultFormatsOffset: number;
  /** Format code per result column (0 text, 1 binary); one code applies to all, none means all text. */
  resultFormats: number[];
}

export function readBind(frame: Buffer): BindMessage {
  const reader = new FrameReader(frame);
  const portal = reader.name();
  const statement = reader.name();
  const restOffset = reader.position;
  const formatCount = reader.int16();
  for (let i = 0; i < formatCount; i++) reader.int16();
  const valueCount = reader.int16();
  for (let i = 0; i < valueCount; i++) {
    const length = reader.int32();
    if (length > 0) reader.bytes(length);
  }
  const resultFormatsOffset = reader.position;
  const resultCount = reader.int16();
  const resultFormats: number[] = [];
  for (let i = 0; i < resultCount; i++) resultFormats.push(reader.int16());
  return { portal, statement, restOffset, resultFormatsOffset, resultFormats };
}

/** A parameter of a Bind (numbered from 0) with its format code (0 text, 1 binary); undefined if there are fewer. */
export function readBindParameter(frame: Buffer, index: number): { format: number; value: Buffer | null } | undefined {
  const reader = new FrameReader(frame);
  reader.cstring();
  reader.cstring();
  return parameterAt(reader, index);
}

/** The same, of a Bind's parameter section: its format codes and values, which follow the portal's and statement's names. */
export function readSectionParameter(section: Buffer, index: number): { format: number; value: Buffer | null } | undefined {
  return parameterAt(new FrameReader(section, 'ERROR', 0), index);
}

function parameterAt(reader: FrameReader, index: number): { format: number; value: Buffer | null } | undefined {
  const formats: number[] = [];
  const formatCount = reader.int16();
  for (let i = 0; i < formatCount; i++) formats.push(reader.int16());
  const valueCount = reader.int16();
  if (index < 0 || index >= valueCount) return undefined;
  for (let i = 0; ; i++) {
    const length = reader.int32();
    const value = length < 0 ? null : reader.bytes(length);
    if (i === index) return { format: formats.length === 1 ? formats[0]! : (formats[index] ?? 0), value };
  }
}

/** A FunctionCall's function oid, and its argument `index` (numbered from 0) with its format code; undefined if there are fewer. */
export function readFunctionCall(frame: Buffer, index: number): { oid: number; argument: { format: number; value: Buffer | null } | undefined } {
  const reader = new FrameReader(frame);
  const oid = reader.int32() >>> 0;
  return { oid, argument: parameterAt(reader, index) };
}

export function readExecute(frame: Buffer): { portal: string; maxRows: number } {
  const reader = new FrameReader(frame);
  return { portal: reader.name(), maxRows: reader.int32() };
}

/** Describe and Close: which kind of object ('S' statement, 'P' portal) and its name. */
export function readTarget(frame: Buffer): { kind: 'S' | 'P'; name: string } {
  const reader = new FrameReader(frame);
  const subtype = reader.byte();
  const name = reader.name();
  const kind = String.fromCharCode(subtype);
  if (kind === 'S' || kind === 'P') return { kind, name };
  const message = frame[0] === FrontendMessage.Describe ? 'DESCRIBE' : 'CLOSE';
  throw reader.malformed(`invalid ${message} message subtype ${subtype}`);
}

/** SASLInitialResponse: the mechanism the client chose and its first message (empty when it sent none). */
export function readSaslInitialResponse(frame: Buffer): { mechanism: string; data: string } {
  const reader = new FrameReader(frame, 'FATAL');
  const mechanism = reader.cstring();
  const length = reader.int32();
  const data = length < 0 ? '' : reader.bytes(length).toString('latin1');
  if (reader.position !== frame.length) throw protocolViolation('invalid SASLInitialResponse message');
  return { mechanism, data };
}

/** SASLResponse: the client's next SASL message. */
export function readSaslResponse(frame: Buffer): string {
  return frame.toString('latin1', BODY);
}
