// Encodes a function's JSON results as PostgreSQL column values, in text or binary format, for the rows the proxy
// sends itself (streamed set-returning calls, per-row projections). Only the types the function declarations use
// are known here; a vector is encoded as the type the upstream reports for its column, pgvector's vector or real[]
// (functions/vector-type.ts).

import { PgError } from '../../proxy/pg-error.js';
import { JsonText } from '../json-text.js';
import { floatText } from './float-text.js';

export const TEXT_FORMAT = 0;
export const BINARY_FORMAT = 1;
const FLOAT4_OID = 700;
const JSONB_VERSION = Buffer.from([1]);

export function encodeValue(type: string, value: unknown, format: number): Buffer | null {
  // PostgreSQL takes any code at Bind and refuses it at the first row, a NULL's too.
  if (format !== TEXT_FORMAT && format !== BINARY_FORMAT) throw new PgError('22023', `unsupported format code: ${format}`);
  // void is not NULL: PostgreSQL sends it as an empty value in both formats.
  if (type === 'void') return Buffer.alloc(0);
  if (value === null || value === undefined) return null;
  // JSON written out already (json-text.ts) goes as it is: jsonb's binary format is its text after a version byte.
  if (value instanceof JsonText) return format === BINARY_FORMAT && type === 'jsonb' ? Buffer.concat([JSONB_VERSION, value.bytes]) : Buffer.from(value.bytes);
  return format === BINARY_FORMAT ? encodeBinary(type, value) : Buffer.from(encodeText(type, value), 'utf8');
}

function encodeText(type: string, value: unknown): string {
  switch (type) {
    case 'boolean':
      return value ? 't' : 'f';
    case 'double precision':
      return floatText(Number(value), false);
    case 'vector':
      return `[${(value as number[]).map((item) => floatText(item, true)).join(',')}]`;
    case 'real[]':
      return `{${(value as number[]).map((item) => floatText(item, true)).join(',')}}`;
    case 'jsonb':
    case 'json':
      return JSON.stringify(value);
    default:
      return textOf(value);
  }
}

/**
 * A value as PostgreSQL's text: a NUL, which its text never holds and a model's answer may, is refused as the server
 * refuses one sent to it (libpq clients would read the text as ending there; review N2).
 */
function textOf(value: unknown): string {
  const text = String(value);
  if (text.includes('\0')) {
    throw new PgError('22021', 'invalid byte sequence for encoding "UTF8": 0x00', { detail: 'The value, a model provider\'s text, holds a NUL character.' });
  }
  return text;
}

function encodeBinary(type: string, value: unknown): Buffer {
  switch (type) {
    case 'integer': {
      const buffer = Buffer.allocUnsafe(4);
      buffer.writeInt32BE(Number(value), 0);
      return buffer;
    }
    case 'bigint': {
      const buffer = Buffer.allocUnsafe(8);
      buffer.writeBigInt64BE(BigInt(value as number), 0);
      return buffer;
    }
    case 'double precision': {
      const buffer = Buffer.allocUnsafe(8);
      buffer.writeDoubleBE(Number(value), 0);
      return buffer;
    }
    case 'boolean':
      return Buffer.from([value ? 1 : 0]);
    case 'uuid':
      return Buffer.from(String(value).replace(/-/g, ''), 'hex');
    case 'jsonb':
      return Buffer.concat([JSONB_VERSION, Buffer.from(JSON.stringify(value), 'utf8')]);
    case 'text':
      return Buffer.from(textOf(value), 'utf8');
    case 'vector':
      return vectorBinary(value as number[]);
    case 'real[]':
      return realArrayBinary(value as number[]);
  }
  throw new PgError('XX000', `pg_llm proxy cannot encode type ${type} in binary`);
}

/** pgvector's vector_send: the dimension count, two unused bytes, then each value as a float4. */
function vectorBinary(values: number[]): Buffer {
  const buffer = Buffer.alloc(4 + 4 * values.length);
  buffer.writeInt16BE(values.length, 0);
  values.forEach((value, i) => buffer.writeFloatBE(value, 4 + 4 * i));
  return buffer;
}

/** array_send of a one-dimensional real[] without NULLs: its header, then each element's length and float4. */
function realArrayBinary(values: number[]): Buffer {
  const buffer = Buffer.alloc(20 + 8 * values.length);
  [1, 0, FLOAT4_OID, values.length, 1].forEach((field, i) => buffer.writeInt32BE(field, 4 * i));
  values.forEach((value, i) => {
    buffer.writeInt32BE(4, 20 + 8 * i);
    buffer.writeFloatBE(value, 24 + 8 * i);
  });
  return buffer;
}

/** The format of result column `index` under a Bind's result format codes. */
export function columnFormat(formats: number[], index: number): number {
  if (formats.length === 0) return TEXT_FORMAT;
  return formats.length === 1 ? formats[0]! : (formats[index] ?? TEXT_FORMAT);
}
