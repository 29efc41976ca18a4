// Decodes the upstream's messages that the proxy has to understand: the authentication exchange, the backend key
// and the transaction status. Each function takes a whole frame as the framer hands it over (type, length, body).

import { AuthRequest, type TransactionStatus } from './protocol.js';

const BODY = 5;

export function readAuthenticationCode(frame: Buffer): number {
  return frame.readInt32BE(BODY);
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
