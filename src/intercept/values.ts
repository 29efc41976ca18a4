// Encodes a function's JSON results as PostgreSQL column values, in text or binary format, for the rows the proxy
// sends itself (streamed set-returning calls). Only the types the function declarations use are known here.

import { PgError } from '../../proxy/pg-error.js';

export const TEXT_FORMAT = 0;
export const BINARY_FORMAT = 1;

export function encodeValue(type: string, value: unknown, format: number): Buffer | null {
  // void is not NULL: PostgreSQL sends it as an empty value in both formats.
  if (type === 'void') return Buffer.alloc(0);
  if (value === null || value === undefined) return null;
  return format === BINARY_FORMAT ? encodeBinary(type, value) : Buffer.from(encodeText(type, value), 'utf8');
}

function encodeText(type: string, value: unknown): string {
  switch (type) {
    case 'boolean':
      return value ? 't' : 'f';
    case 'double precision':
      return float8Text(Number(value));
    case 'jsonb':
    case 'json':
      return JSON.stringify(value);
    default:
      return String(value);
  }
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
      return Buffer.concat([Buffer.from([1]), Buffer.from(JSON.stringify(value), 'utf8')]);
    case 'text':
      return Buffer.from(String(value), 'utf8');
  }
  throw new PgError('XX000', `pg_llm proxy cannot encode type ${type} in binary`);
}

/** float8 as PostgreSQL prints it (extra_float_digits 1): shortest exact digits, exponent below 1e-4 and from 1e15. */
function float8Text(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (!Number.isFinite(value)) return value > 0 ? 'Infinity' : '-Infinity';
  if (value === 0) return Object.is(value, -0) ? '-0' : '0';
  const exponent = Math.floor(Math.log10(Math.abs(value)));
  if (exponent >= -4 && exponent < 15) return String(value);
  const [mantissa, power] = value.toExponential().split('e') as [string, string];
  const sign = power.startsWith('-') ? '-' : '+';
  return `${mantissa}e${sign}${power.replace(/^[+-]/, '').padStart(2, '0')}`;
}

/** The format of result column `index` under a Bind's result format codes. */
export function columnFormat(formats: number[], index: number): number {
  if (formats.length === 0) return TEXT_FORMAT;
  return formats.length === 1 ? formats[0]! : (formats[index] ?? TEXT_FORMAT);
}
