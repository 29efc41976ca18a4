// The client encodings a session may not use while an interceptor reads its statements. In PostgreSQL's client-only
// encodings SJIS, SHIFT_JIS_2004, BIG5, GBK, UHC, GB18030 and JOHAB a character's second byte may be an ASCII one, a
// backslash among them: the server reads a statement once it has converted it, the proxy's lexical scan reads its
// bytes, and the two would disagree on where a string ends (review P: in SJIS, E'\x95\x5c' is one character and a
// closing quote to the server, an escaped quote to the scan, and a SET ai.openai_api_key = … after it reached the
// server unheld). In every other encoding PostgreSQL has, each byte of a multibyte character is over 0x7f.

import { readParameterStatus } from './backend-read.js';
import { PgError, SqlState } from './pg-error.js';

const SPLIT_BYTE_ENCODINGS = new Set(['SJIS', 'SHIFT_JIS_2004', 'BIG5', 'GBK', 'UHC', 'GB18030', 'JOHAB']);

/** The error that ends a session whose server reports (ParameterStatus) a client_encoding the proxy cannot read in. */
export function clientEncodingRefusal(parameterStatus: Buffer): PgError | undefined {
  const { name, value: encoding } = readParameterStatus(parameterStatus);
  if (name !== 'client_encoding' || !SPLIT_BYTE_ENCODINGS.has(encoding.toUpperCase())) return undefined;
  return new PgError(SqlState.FeatureNotSupported, `client_encoding ${encoding} is not supported by the pg_llm proxy`, {
    severity: 'FATAL',
    hint: 'Use UTF8 (PGCLIENTENCODING=UTF8, or SET client_encoding = \'UTF8\'): in this encoding a character may end with the byte of a backslash, and the proxy would read statements otherwise than the server.',
  });
}
