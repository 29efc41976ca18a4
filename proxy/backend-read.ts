// Decodes the upstream's messages that the proxy has to understand: the authentication exchange, the backend key
// and the transaction status. Each function takes a whole frame as the framer hands it over (type, length, body).

import type { BodyReader } from './framer.js';
import { AuthRequest, BackendMessage, type TransactionStatus } from './protocol.js';

const BODY = 5;

export function readAuthenticationCode(frame: Buffer): number {
  return frame.readInt32BE(BODY);
}

/** What follows the request code: a SASL message (SASLContinue, SASLFinal) or the salt of MD5Password. */
export function readAuthenticationData(frame: Buffer): Buffer {
  return frame.subarray(BODY + 4);
}

/** The mechanism names of an AuthenticationSASL message. */
export function readSaslMechanisms(frame: Buffer): string[] {
  if (readAuthenticationCode(frame) !== AuthRequest.SASL) throw new Error('not an AuthenticationSASL message');
  const mechanisms: string[] = [];
  let offset = BODY + 4;
  while (offset < frame.length) {
    const end = frame.indexOf(0, offset);
    if (end <= offset) break;
    mechanisms.push(frame.toString('utf8', offset, end));
    offset = end + 1;
  }
  return mechanisms;
}

export function readBackendKeyData(frame: Buffer): { processId: number; secret: Buffer } {
  return { processId: frame.readInt32BE(BODY), secret: Buffer.from(frame.subarray(BODY + 4)) };
}

export function readTransactionStatus(frame: Buffer): TransactionStatus {
  return String.fromCharCode(frame[BODY]!) as TransactionStatus;
}

/** The fields of an ErrorResponse or NoticeResponse, keyed by their one-letter codes (S, C, M, D, H…). */
export function readErrorFields(frame: Buffer): Map<string, string> {
  const fields = new Map<string, string>();
  let offset = BODY;
  while (offset < frame.length && frame[offset] !== 0) {
    const end = frame.indexOf(0, offset + 1);
    if (end < 0) break;
    fields.set(String.fromCharCode(frame[offset]!), frame.toString('utf8', offset + 1, end));
    offset = end + 1;
  }
  return fields;
}

/** Longer than any severity (PANIC, FATAL, …) or SQLSTATE: the rest of a longer value is not kept. */
const FIELD_BYTES = 16;

/**
 * Reads one short field of an ErrorResponse or NoticeResponse (its severity V, its SQLSTATE C) as its body comes, and
 * keeps nothing else: its message, which a client's RAISE may make a gigabyte, is let go unread, never held or decoded.
 */
export class ErrorFieldReader implements BodyReader {
  /** The field's value (its first 16 bytes), once it is all read; empty when the message has none. */
  value = '';
  /** The code of the field being read; -1 when the next byte is a code, 0 past the terminator. */
  private current = -1;
  private partial = '';

  /** `field`: the one-letter code of the field to read, as the protocol names it. */
  constructor(private readonly field: string) {}

  read(bytes: Buffer): void {
    const wanted = this.field.charCodeAt(0);
    let offset = 0;
    while (offset < bytes.length && this.current !== 0) {
      if (this.current < 0) {
        this.current = bytes[offset++]!;
        continue;
      }
      const nul = bytes.indexOf(0, offset);
      const end = nul < 0 ? bytes.length : nul;
      if (this.current === wanted && this.partial.length < FIELD_BYTES) {
        this.partial += bytes.toString('latin1', offset, Math.min(end, offset + FIELD_BYTES - this.partial.length));
      }
      if (nul < 0) return;
      if (this.current === wanted) this.value = this.partial;
      this.current = -1;
      offset = nul + 1;
    }
  }

  end(): void {}
}

/** What a cut ErrorResponse or NoticeResponse keeps of each of its fields, and of all of them together. */
export const REPORT_FIELD_BYTES = 256 * 1024;
export const REPORT_BYTES = 1024 * 1024;

/**
 * Reads an ErrorResponse or NoticeResponse as its body comes and keeps of each field its first REPORT_FIELD_BYTES
 * (cut where a UTF-8 character starts), up to REPORT_BYTES in all: a message the proxy must hand on whole, as a frame of
 * its own, costs it that much however big the server made it (a role's RAISE may make it a gigabyte).
 */
export class CutReportReader implements BodyReader {
  private readonly fields: Array<{ code: number; parts: Buffer[]; bytes: number; cut: boolean }> = [];
  /** The field being read; undefined when the next byte is a code. */
  private current: { code: number; parts: Buffer[]; bytes: number; cut: boolean } | undefined;
  private kept = 0;
  private done = false;

  constructor(private readonly type: number) {}

  read(bytes: Buffer): void {
    let offset = 0;
    while (offset < bytes.length && !this.done) {
      const field = this.current;
      if (field === undefined) {
        const code = bytes[offset++]!;
        if (code === 0) {
          this.done = true;
          continue;
        }
        // Past REPORT_BYTES a field (its code and terminator counted) is let go whole.
        const kept = this.kept + 2 <= REPORT_BYTES;
        this.current = { code, parts: [], bytes: kept ? 0 : REPORT_FIELD_BYTES, cut: false };
        if (kept) {
          this.kept += 2;
          this.fields.push(this.current);
        }
        continue;
      }
      const nul = bytes.indexOf(0, offset);
      const end = nul < 0 ? bytes.length : nul;
      const taken = Math.max(0, Math.min(end - offset, REPORT_FIELD_BYTES - field.bytes, REPORT_BYTES - this.kept));
      if (taken > 0) {
        field.parts.push(Buffer.from(bytes.subarray(offset, offset + taken)));
        field.bytes += taken;
        this.kept += taken;
      }
      if (taken < end - offset) field.cut = true;
      if (nul < 0) return;
      this.current = undefined;
      offset = nul + 1;
    }
  }

  end(): void {}

  /** The message as kept: every field the server sent (within REPORT_BYTES), each cut to what was kept of it. */
  frame(): Buffer {
    const values = this.fields.map((field) => ({ code: field.code, value: field.cut ? atCharacter(Buffer.concat(field.parts)) : Buffer.concat(field.parts) }));
    const length = 4 + values.reduce((sum, { value }) => sum + value.length + 2, 0) + 1;
    const frame = Buffer.alloc(1 + length);
    frame[0] = this.type;
    frame.writeInt32BE(length, 1);
    let offset = BODY;
    for (const { code, value } of values) {
      frame[offset++] = code;
      offset += value.copy(frame, offset);
      frame[offset++] = 0;
    }
    return frame;
  }
}

/** The bytes up to the last UTF-8 character that they hold whole. */
function atCharacter(bytes: Buffer): Buffer {
  let start = bytes.length - 1;
  while (start > 0 && start > bytes.length - 4 && (bytes[start]! & 0xc0) === 0x80) start--;
  const lead = bytes[start];
  if (lead === undefined || lead < 0xc0) return bytes;
  const length = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : 2;
  return bytes.length - start < length ? bytes.subarray(0, start) : bytes;
}

/** One short field (V, C) of a whole ErrorResponse or NoticeResponse frame, read as ErrorFieldReader reads one as it comes. */
export function readErrorField(frame: Buffer, field: string): string {
  const reader = new ErrorFieldReader(field);
  reader.read(frame.subarray(BODY));
  return reader.value;
}

/** One column of a RowDescription. */
export interface FieldDescription {
  name: string;
  tableOid: number;
  columnNumber: number;
  typeOid: number;
  typeSize: number;
  typeModifier: number;
  format: number;
}

export function readRowDescription(frame: Buffer): FieldDescription[] {
  const count = frame.readInt16BE(BODY);
  const fields: FieldDescription[] = [];
  let offset = BODY + 2;
  for (let i = 0; i < count; i++) {
    const end = frame.indexOf(0, offset);
    const name = frame.toString('utf8', offset, end);
    offset = end + 1;
    fields.push({
      name,
      tableOid: frame.readInt32BE(offset),
      columnNumber: frame.readInt16BE(offset + 4),
      typeOid: frame.readInt32BE(offset + 6),
      typeSize: frame.readInt16BE(offset + 10),
      typeModifier: frame.readInt32BE(offset + 12),
      format: frame.readInt16BE(offset + 16),
    });
    offset += 18;
  }
  return fields;
}

/** The column values of a DataRow, null for SQL NULL; views into the frame. */
export function readDataRow(frame: Buffer): Array<Buffer | null> {
  const count = frame.readInt16BE(BODY);
  const values: Array<Buffer | null> = [];
  let offset = BODY + 2;
  for (let i = 0; i < count; i++) {
    const length = frame.readInt32BE(offset);
    offset += 4;
    if (length < 0) {
      values.push(null);
    } else {
      values.push(frame.subarray(offset, offset + length));
      offset += length;
    }
  }
  return values;
}

/** The name of the parameter a ParameterStatus reports. */
export function readParameterStatusName(frame: Buffer): string {
  return frame.toString('utf8', BODY, frame.indexOf(0, BODY));
}

/** The parameter a ParameterStatus reports, and its value. */
export function readParameterStatus(frame: Buffer): { name: string; value: string } {
  const nameEnd = frame.indexOf(0, BODY);
  return { name: frame.toString('utf8', BODY, nameEnd), value: frame.toString('utf8', nameEnd + 1, frame.indexOf(0, nameEnd + 1)) };
}

/** The command tag of a CommandComplete, e.g. "SELECT 3". */
export function readCommandTag(frame: Buffer): string {
  return frame.toString('utf8', BODY, frame.indexOf(0, BODY));
}

/** The parameter type OIDs of a ParameterDescription. */
export function readParameterDescription(frame: Buffer): number[] {
  const count = frame.readInt16BE(BODY);
  return Array.from({ length: count }, (_, i) => frame.readInt32BE(BODY + 2 + 4 * i));
}

const READY_FOR_QUERY_BYTES = 6;

/**
 * Whether a piece of the upstream's stream ends with what looks like a whole ReadyForQuery: the server is then
 * likely to stay quiet until the client asks more. A guess (the bytes may end a row's value instead), good enough
 * for sizing the next read's room.
 */
export function endsWithReadyForQuery(chunk: Buffer): boolean {
  const at = chunk.length - READY_FOR_QUERY_BYTES;
  return at >= 0 && chunk[at] === BackendMessage.ReadyForQuery && chunk.readInt32BE(at + 1) === READY_FOR_QUERY_BYTES - 1;
}
