// Keys of a call's options jsonb that the SQL-running functions share, checked as PostgreSQL checks a setting:
// a value out of range is 22023 naming the key and the range.

import type { ExecutionLimits } from '../src/sql/run-query.js';
import { PgError } from '../proxy/pg-error.js';

export function wholeNumberOption(options: Record<string, unknown>, key: string, fallback: number, min: number, max: number): number {
  const value = options[key];
  if (value === undefined || value === null) return fallback;
  if (!Number.isInteger(value) || (value as number) < min || (value as number) > max) {
    throw new PgError('22023', `options.${key} must be a whole number from ${min} to ${max}`);
  }
  return value as number;
}

const MIB = 2 ** 20;

/** max_rows (default 100, at most 10,000), statement_timeout_ms (default 30 s, at most an hour), max_result_bytes (default 16 MiB, at most 64 MiB). */
export function executionLimits(options: Record<string, unknown>): ExecutionLimits {
  return {
    maxRows: wholeNumberOption(options, 'max_rows', 100, 1, 10_000),
    timeoutMs: wholeNumberOption(options, 'statement_timeout_ms', 30_000, 1, 3_600_000),
    maxResultBytes: wholeNumberOption(options, 'max_result_bytes', 16 * MIB, 1, 64 * MIB),
  };
}
