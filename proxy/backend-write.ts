// Encodes the messages the proxy sends to a client in the server's role: its own errors, notices and results, the
// SASL exchange (the rewritten mechanism list, or the whole exchange when the proxy authenticates the client) and
// its own backend key. Everything else the client receives is the upstream's.

import type { FieldDescription } from './backend-read.js';
import type { BodyReader } from './framer.js';
import { AuthRequest, BackendMessage, type TransactionStatus } from './protocol.js';
import type { PgError } from './pg-error.js';

function message(type: number, body: Buffer): Buffer {
  const frame = Buffer.allocUnsafe(5 + body.length);
  frame[0] = type;
  frame.writeInt32BE(4 + body.length, 1);
  body.copy(frame, 5);
  return frame;
}

/**
 * Each value as a C string. A NUL within one would end it there, and what follows would read as the message's next
 * fields: a model provider's error text 'x\0C40001\0Mplease retry' gave its caller a serialization failure to retry
 * (review N). PostgreSQL's own text never holds a NUL; here it becomes U+FFFD.
 */
function cstrings(values: string[]): Buffer {
  return Buffer.concat(values.map((value) => Buffer.from(`${value.replaceAll('\0', '\uFFFD')}\0`, 'utf8')));
}

function errorFields(severity: string, error: PgError): Buffer {
  const fields: string[] = [`S${severity}`, `V${severity}`, `C${error.sqlstate}`, `M${error.message}`];
  if (error.detail !== undefined) fields.push(`D${error.detail}`);
  if (error.hint !== undefined) fields.push(`H${error.hint}`);
  if (error.position !== undefined) fields.push(`P${error.position}`);
  return Buffer.concat([cstrings(fields), Buffer.from([0])]);
}

/**
 * Relays a message of the upstream's to `write` as its body comes, none of it held however big (a row may take a
 * gigabyte); its writer must write nothing else until the body is all in.
 */
export function relayedAsItComes(type: number, length: number, write: (bytes: Buffer) => void): BodyReader {
  const header = Buffer.alloc(5);
  header[0] = type;
  header.writeInt32BE(length, 1);
  write(header);
  // The upstream's chunks are never reused (slab-reads.ts): a view may be written as it is.
  return { read: write, end() {} };
}

export function errorResponse(error: PgError): Buffer {
  return message(BackendMessage.ErrorResponse, errorFields(error.severity, error));
}

/** An ErrorResponse of the fields given (as readErrorFields reads them), in their order. */
export function errorResponseOf(fields: Map<string, string>): Buffer {
  return message(BackendMessage.ErrorResponse, Buffer.concat([cstrings([...fields].map(([code, value]) => code + value)), Buffer.from([0])]));
}

/** A NoticeResponse carrying the same fields an error would, at NOTICE (or WARNING) severity. */
export function noticeResponse(notice: PgError, severity: 'NOTICE' | 'WARNING' = 'NOTICE'): Buffer {
  return message(BackendMessage.NoticeResponse, errorFields(severity, notice));
}

function authentication(request: number, data: Buffer): Buffer {
  const code = Buffer.alloc(4);
  code.writeInt32BE(request, 0);
  return message(BackendMessage.Authentication, Buffer.concat([code, data]));
}

export function authenticationSASL(mechanisms: string[]): Buffer {
  return authentication(AuthRequest.SASL, Buffer.concat([cstrings(mechanisms), Buffer.from([0])]));
}

/** A SCRAM server message (server-first-message) on the way to the client's final message. */
export function authenticationSASLContinue(data: string): Buffer {
  return authentication(AuthRequest.SASLContinue, Buffer.from(data, 'latin1'));
}

/** The SCRAM server-final-message, just before AuthenticationOk. */
export function authenticationSASLFinal(data: string): Buffer {
  return authentication(AuthRequest.SASLFinal, Buffer.from(data, 'latin1'));
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

export function rowDescription(fields: FieldDescription[]): Buffer {
  const parts: Buffer[] = [Buffer.alloc(2)];
  parts[0]!.writeInt16BE(fields.length, 0);
  for (const field of fields) {
    const fixed = Buffer.allocUnsafe(18);
    fixed.writeInt32BE(field.tableOid, 0);
    fixed.writeInt16BE(field.columnNumber, 4);
    fixed.writeInt32BE(field.typeOid, 6);
    fixed.writeInt16BE(field.typeSize, 10);
    fixed.writeInt32BE(field.typeModifier, 12);
    fixed.writeInt16BE(field.format, 16);
    parts.push(cstrings([field.name]), fixed);
  }
  return message(BackendMessage.RowDescription, Buffer.concat(parts));
}

/** The length field (body + 4) of a DataRow of these values. */
export function dataRowLength(values: ReadonlyArray<Buffer | null>): number {
  let length = 4 + 2;
  for (const value of values) length += 4 + (value?.length ?? 0);
  return length;
}

/** A value this big goes to the client as a piece of its own: a copy costs more than a write. */
const PIECE_APART_BYTES = 64 * 1024;

/** A DataRow of already-encoded values; null is SQL NULL. */
export function dataRow(values: ReadonlyArray<Buffer | null>): Buffer {
  const pieces = dataRowPieces(values, Number.POSITIVE_INFINITY);
  return pieces.length === 1 ? pieces[0]! : Buffer.concat(pieces);
}

/**
 * A DataRow of already-encoded values as the pieces to write in order: a value of `apart` bytes or more is a piece
 * as it is, not copied into the frame (a copy of 30 MB held the event loop some 40 ms, and as much in garbage).
 */
export function dataRowPieces(values: ReadonlyArray<Buffer | null>, apart = PIECE_APART_BYTES): Buffer[] {
  let inline = 5 + 2;
  for (const value of values) inline += 4 + (value && value.length < apart ? value.length : 0);
  const frame = Buffer.allocUnsafe(inline);
  frame[0] = BackendMessage.DataRow;
  frame.writeInt32BE(dataRowLength(values), 1);
  frame.writeInt16BE(values.length, 5);
  const pieces: Buffer[] = [];
  let offset = 7;
  let pieceStart = 0;
  for (const value of values) {
    offset = frame.writeInt32BE(value?.length ?? -1, offset);
    if (value === null) continue;
    if (value.length < apart) {
      offset += value.copy(frame, offset);
      continue;
    }
    pieces.push(frame.subarray(pieceStart, offset), value);
    pieceStart = offset;
  }
  if (offset > pieceStart) pieces.push(frame.subarray(pieceStart, offset));
  return pieces;
}

export function commandComplete(tag: string): Buffer {
  return message(BackendMessage.CommandComplete, cstrings([tag]));
}

export function readyForQuery(status: TransactionStatus): Buffer {
  return message(BackendMessage.ReadyForQuery, Buffer.from(status));
}

/** The answers to Parse, Bind, Close and a Describe without result columns, for statements the proxy runs itself. */
export function parseComplete(): Buffer {
  return message(BackendMessage.ParseComplete, Buffer.alloc(0));
}

export function bindComplete(): Buffer {
  return message(BackendMessage.BindComplete, Buffer.alloc(0));
}

export function closeComplete(): Buffer {
  return message(BackendMessage.CloseComplete, Buffer.alloc(0));
}

export function noData(): Buffer {
  return message(BackendMessage.NoData, Buffer.alloc(0));
}

/** The answer to an Execute that stopped at its row limit, with rows left. */
export function portalSuspended(): Buffer {
  return message(BackendMessage.PortalSuspended, Buffer.alloc(0));
}

/** A ParameterDescription with no parameters. */
export function noParameters(): Buffer {
  return message(BackendMessage.ParameterDescription, Buffer.alloc(2));
}
