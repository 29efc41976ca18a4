// The pg_llm.* settings of the caller's session, read once per statement with current_setting(), so SET, SET LOCAL,
// ALTER ROLE/DATABASE … SET and postgresql.conf all take effect as they would for the extension; where PostgreSQL
// has no value, the proxy's --settings default applies. A value that does not parse fails the call with 22023, as
// PostgreSQL does for a bad setting.

import type { SessionSettings } from '../../functions/declaration.js';
import { PgError } from '../../proxy/pg-error.js';

const NAMES = [
  'audit_enabled', 'trace_enabled', 'redact_sensitive', 'audit_sample_rate', 'default_confidence_threshold', 'default_local_fallback', 'default_model', 'progress',
  'max_calls_per_statement', 'max_cost_per_statement', 'master_key',
] as const;

export type SettingsRow = Partial<Record<(typeof NAMES)[number], string | null>>;

/** The settings a proxy's --settings may default: all but the master key, which has options of its own. */
export const DEFAULTABLE_SETTINGS: readonly string[] = NAMES.filter((name) => name !== 'master_key');

/** Who the session is, its role, database and login role, as the asker of its provider requests (src/providers/asker.ts). */
export const ASKER_SQL = 'pg_catalog.jsonb_build_array(current_user, pg_catalog.current_database(), session_user)::pg_catalog.text';

/** The settings, and who the session is (its role and database) for what is kept per caller. */
export const SETTINGS_QUERY = `SELECT ${NAMES.map((name) => `pg_catalog.current_setting('pg_llm.${name}', true) AS ${name}`).join(', ')},
  ${ASKER_SQL} AS asker, pg_catalog.current_database() AS database`;

/** The session's values over the proxy's defaults. */
export function parseSettings(session: SettingsRow | undefined, defaults: SettingsRow = {}): SessionSettings {
  const row: SettingsRow = { ...defaults };
  for (const [name, value] of Object.entries(session ?? {})) if (value !== null && value !== '') row[name as keyof SettingsRow] = value;
  return {
    auditEnabled: flag(row, 'audit_enabled', true),
    traceEnabled: flag(row, 'trace_enabled', false),
    redactSensitive: flag(row, 'redact_sensitive', true),
    auditSampleRate: fraction(row, 'audit_sample_rate', 1),
    defaultConfidenceThreshold: fraction(row, 'default_confidence_threshold', 0.6),
    defaultLocalFallback: row?.default_local_fallback?.trim() || undefined,
    defaultModel: row?.default_model?.trim() || undefined,
    progress: flag(row, 'progress', true),
    maxCallsPerStatement: limit(row, 'max_calls_per_statement', true),
    maxCostPerStatement: limit(row, 'max_cost_per_statement', false),
  };
}

function flag(row: SettingsRow | undefined, name: (typeof NAMES)[number], fallback: boolean): boolean {
  const value = row?.[name]?.trim().toLowerCase();
  if (!value) return fallback;
  if (['on', 'true', 'yes', '1', 't', 'y'].includes(value)) return true;
  if (['off', 'false', 'no', '0', 'f', 'n'].includes(value)) return false;
  throw invalid(name, value, 'a Boolean (on or off)');
}

function fraction(row: SettingsRow | undefined, name: (typeof NAMES)[number], fallback: number): number {
  const value = row?.[name]?.trim();
  if (!value) return fallback;
  const number = Number(value);
  if (!(number >= 0 && number <= 1)) throw invalid(name, value, 'a number from 0 to 1');
  return number;
}

/** A cap: unset (or empty) for none, else a number from 0, whole when `whole`. */
function limit(row: SettingsRow | undefined, name: (typeof NAMES)[number], whole: boolean): number | undefined {
  const value = row?.[name]?.trim();
  if (!value) return undefined;
  const number = Number(value);
  if (!(number >= 0 && Number.isFinite(number)) || (whole && !Number.isSafeInteger(number))) throw invalid(name, value, whole ? 'a whole number from 0' : 'a number of US dollars from 0');
  return number;
}

function invalid(name: string, value: string, expected: string): PgError {
  return new PgError('22023', `invalid value for parameter "pg_llm.${name}": "${value}"`, { hint: `It must be ${expected}.` });
}
