// Where a query string hands the server one of pgai's key settings (ai.openai_api_key, or any ai.<name> an
// api_key_name may name): the values of a top-level SET and of set_config() with the value written out, which the
// proxy takes in (src/intercept/api-key-setting.ts), and the ways it cannot: ALTER ROLE/DATABASE/SYSTEM … SET and a
// function's SET clause, which the server's catalog would keep.
// Every ai.* setting counts as a key but those that name where a server is (ai.ollama_host, ai.openai_base_url…),
// pgai's switches and its defaults for vectorizers (ai.indexing_default, ai.scheduling_default, ai.grant_to_default,
// which its SQL reads): a key mistaken for an address would reach the log, an address mistaken for a key only shows
// as a reference. A server setting's URL written out with credentials in it (http://user:password@host,
// http://host/v1?key=…) is refused wherever it would be set: the server would keep them in clear.

import { parseSync, scanSync, TooComplexToParse } from './parser.js';
import { PgError } from '../../proxy/pg-error.js';
import { constantText, uncast, type Expression } from './constant-text.js';
import { refuseComputedSettingName } from './computed-setting-names.js';
import { refuseEmbeddingUrlCredentials, VECTORIZER_CONFIG_NAMES } from './embedding-urls.js';
import { bindsParameter, writesOutSecret } from './computed-secrets.js';
import { withDerivedColumns } from './derived-columns.js';
import { IdentifierSet } from './identifiers.js';
import { parseTask } from './parse-task.js';
import { isServerSetting, serverNames } from './server-names.js';
import { scopeWithin, type Scope } from './statement-scopes.js';
import { refuseUrlCredentials, writtenPieces } from './url-credentials.js';
import { settingCase } from './setting-case.js';

const PREFIX = 'ai.';
const NOT_KEYS = /^ai\.(?:.*_host|.*_url|.*_enabled|enable_.*|indexing_default|scheduling_default|grant_to_default)$/;

/** Whether the setting holds a key the server must not see. */
export function isApiKeySetting(name: string | undefined): name is string {
  const lower = name === undefined ? undefined : settingCase(name);
  return lower !== undefined && lower.startsWith(PREFIX) && lower.length > PREFIX.length && !NOT_KEYS.test(lower);
}

/**
 * The tokens a statement that sets such a setting has: the setting's schema (SET, ALTER … SET, a function's SET
 * clause: ai, "AI", U&"\0061i", with comments before the dot, or the name whole as one quoted identifier,
 * "ai.openai_api_key") or set_config, whose name may be written in any
 * spelling ('a' || 'i.…', E'\x61i.…') or computed. Only in code: "ai." in a statement's data is no reason to parse
 * it. A U&"…" identifier with escapes counts as one (the parse decides). An UPDATE of pg_settings sets one too, its
 * name a string. So do the statements whose vectorizer configs are read for URLs with credentials (embedding-urls.ts):
 * those that name a config's builder, its function or its table, unqualified under a search_path too.
 */
export const KEY_SETTING_TOKENS = new IdentifierSet(VECTORIZER_CONFIG_NAMES, ['ai', 'set_config', 'pg_settings']);

/** True when the text could set such a setting; else no parse. */
export function mentionsApiKeySetting(text: string): boolean {
  return /ai|set_config|pg_settings|u&|vectorizer|embedding_/i.test(text) && KEY_SETTING_TOKENS.namedIn(Buffer.from(text));
}

/** A value to hold: the key, and the bytes of the query string its reference replaces. */
export interface HeldSpan {
  value: string;
  start: number;
  end: number;
}

/** A key setting's value to hold, and the setting (lower case) it is set for. */
export interface KeySpan extends HeldSpan {
  setting: string;
}

export const API_KEY_VALUES = parseTask(import.meta.url, 'apiKeyValues', (sql: string) => apiKeyValues(sql));

/** The values of key settings in `sql`, in order; throws a PgError for a way of setting one the proxy cannot take in. */
export function apiKeyValues(sql: string): KeySpan[] {
  let tree: { stmts?: Array<{ stmt: Record<string, unknown>; stmt_location?: number; stmt_len?: number }> };
  try {
    tree = parseSync(sql) as typeof tree;
  } catch (error) {
    if (error instanceof TooComplexToParse) throw error;
    // The server would refuse it too, and its log would keep the statement, with the key in it if it set one. The
    // parser's words are left out: the token they quote may be the key.
    if (!couldSetKey(sql)) return [];
    throw new PgError('42601', "syntax error in a statement that may set a key of pgai's (not sent to the server)");
  }
  const spans: KeySpan[] = [];
  const length = Buffer.byteLength(sql);
  for (const { stmt, stmt_location: location = 0, stmt_len: statementLength } of tree.stmts ?? []) {
    refuseEmbeddingUrlCredentials(stmt);
    const top = stmt.VariableSetStmt as VariableSet | undefined;
    if (top && isApiKeySetting(top.name) && top.kind === 'VAR_SET_VALUE') {
      spans.push({ value: valueOf(top), setting: settingCase(top.name!), start: top.args![0]!.A_Const!.location, end: statementLength ? location + statementLength : length });
      continue;
    }
    visit(stmt, sql, spans);
  }
  return spans.sort((a, b) => a.start - b.start);
}

/**
 * Whether text the parser refused could set a key: it calls set_config, whose name may be spelt any way, or says SET
 * and names a key setting, or could in a spelling only the parser reads (escapes, comments between the names).
 */
function couldSetKey(sql: string): boolean {
  if (/set_config/i.test(sql)) return true;
  if (!/\bset\b/i.test(sql)) return false;
  if (/u&|\\|\/\*|--/i.test(sql)) return true;
  return [...sql.matchAll(/\bai"?\s*\.\s*"?(\w+)/gi)].some((match) => isApiKeySetting(`ai.${match[1]}`));
}

interface Constant {
  sval?: { sval: string };
  ival?: { ival?: number };
  fval?: { fval: string };
  location: number;
}

interface VariableSet {
  kind: string;
  name?: string;
  args?: Array<{ A_Const?: Constant }>;
}

interface FuncCall {
  funcname?: Array<{ String?: { sval: string } }>;
  args?: Expression[];
}

function valueOf(set: VariableSet): string {
  const constant = set.args?.length === 1 ? set.args[0]!.A_Const : undefined;
  const value = constant?.sval?.sval ?? constant?.fval?.fval ?? (constant?.ival ? String(constant.ival.ival ?? 0) : undefined);
  if (value === undefined) throw new PgError('22023', `SET ${set.name} takes one value`, { hint: `Write it as a string: SET ${set.name} = '…'.` });
  return value;
}

/** Walks the tree for SETs and calls, each with the scope of relations its column references resolve in. */
function visit(node: unknown, sql: string, spans: KeySpan[], scope?: Scope, field?: string): void {
  if (Array.isArray(node)) return node.forEach((item) => visit(item, sql, spans, scope));
  if (node === null || typeof node !== 'object') return;
  const prepared = (node as { PrepareStmt?: { query?: unknown } }).PrepareStmt;
  const fromExecute = prepared && serverNames([prepared.query]).settingParameters[0];
  if (fromExecute) {
    throw new PgError('0A000', `a prepared statement cannot set ${fromExecute.setting} from its parameters`, {
      hint: `The proxy does not read EXECUTE's values, and a URL with credentials would stay in the server's keeping. Bind it with the extended protocol (set_config('${fromExecute.setting}', $1, false)), or write it out.`,
    });
  }
  // Nested, a SET is a VariableSetStmt node or the `setstmt` of ALTER ROLE/DATABASE/SYSTEM: matched by its shape.
  const set = node as VariableSet;
  if (set.kind === 'VAR_SET_VALUE' && isServerSetting(set.name)) set.args?.forEach((arg) => refuseUrlCredentials(set.name!, arg.A_Const?.sval?.sval));
  if (set.kind === 'VAR_SET_CURRENT' && isServerSetting(set.name)) {
    throw new PgError('0A000', `${set.name} cannot be set FROM CURRENT`, {
      hint: `The session's value, which the proxy does not see, may carry credentials the server's catalog would keep where every role reads them. Write the URL out: SET ${set.name} = '…'.`,
    });
  }
  if (set.kind === 'VAR_SET_VALUE' && isApiKeySetting(set.name)) {
    throw new PgError('0A000', `${set.name} can be set only in a session, with SET or set_config()`, {
      hint: `The server would keep the key in its catalog. Use SET ${set.name} in each session (the proxy keeps the key, the server only a reference to it), pass api_key, or give the proxy the key in its environment.`,
    });
  }
  const inner = scopeWithin(node as Record<string, unknown>, scope, field);
  for (const [key, value] of Object.entries(node)) {
    if (key === 'FuncCall') {
      const span = setConfigValue(value as FuncCall, sql, inner);
      if (span) spans.push(span);
    }
    if (key === 'UpdateStmt') refuseSettingsUpdate(value as SettingsUpdate);
    visit(value, sql, spans, inner, key);
  }
}

interface SettingsUpdate {
  relation?: { relname?: string };
  whereClause?: Expression;
  targetList?: unknown;
}

/**
 * An UPDATE of pg_settings that names a key setting: it would set it with the key written out, as set_config would.
 * One that does not name its one setting (WHERE name ~ '^ai\.openai_api_k') may set a key setting too (review P), and
 * a server setting's URL it sets may carry no credentials, as anywhere.
 */
function refuseSettingsUpdate(update: SettingsUpdate): void {
  if (update.relation?.relname?.toLowerCase() !== 'pg_settings') return;
  const named = namedSetting(update);
  if (named !== undefined) {
    throw new PgError('0A000', `${named} can be set only with SET or set_config()`, {
      hint: `An UPDATE of pg_settings would carry the key to the server and its log. Use SET ${named} in the session (the proxy keeps the key, the server only a reference to it).`,
    });
  }
  const setting = settingNamedBy(update.whereClause);
  if (setting === undefined) {
    throw new PgError('0A000', 'an UPDATE of pg_settings must name the one setting it sets', {
      hint: "Write WHERE name = '…', or use SET or set_config(): a setting matched otherwise may be a key setting of pgai's, whose key the server and its log would get in clear.",
    });
  }
  if (!isServerSetting(setting)) return;
  refuseUrlCredentials(setting, writtenPieces(update.targetList));
  // A bound value, or EXECUTE's, the proxy does not read: the server's log would keep a URL's credentials (review R).
  if (bindsParameter(update.targetList)) {
    throw new PgError('0A000', `an UPDATE of pg_settings cannot set ${setting} from a parameter`, {
      hint: `Write the URL out, or bind it whole to set_config('${setting}', $1, false), which the proxy reads at Bind.`,
    });
  }
}

/** The setting a WHERE clause names as name = '…' (the column either side, the name written out), if it does. */
function settingNamedBy(where: Expression | undefined): string | undefined {
  const comparison = where?.A_Expr;
  if (comparison?.kind !== 'AEXPR_OP' || comparison.name?.at(-1)?.String?.sval !== '=') return undefined;
  const isName = (side: Expression | undefined): boolean => (side as { ColumnRef?: { fields?: Array<{ String?: { sval: string } }> } } | undefined)?.ColumnRef?.fields?.at(-1)?.String?.sval === 'name';
  if (isName(comparison.lexpr)) return constantText(comparison.rexpr);
  return isName(comparison.rexpr) ? constantText(comparison.lexpr) : undefined;
}

/** The first key setting a text written out in the tree names (joined pieces and casts read as set_config's name is). */
function namedSetting(node: unknown): string | undefined {
  if (Array.isArray(node)) return node.map(namedSetting).find((named) => named !== undefined);
  if (node === null || typeof node !== 'object') return undefined;
  const text = constantText(node as Expression);
  if (text !== undefined) return isApiKeySetting(text) ? settingCase(text) : undefined;
  return Object.values(node).map(namedSetting).find((named) => named !== undefined);
}

/**
 * set_config('ai.…', 'value', …) with the name written out (constant-text.ts) and the value one literal (maybe cast):
 * the span the proxy holds. A value written out otherwise (joined with ||, given a collation) it could not replace
 * whole, so it is refused. Under a name computed in SQL, which may be a key setting's, only a value too short to be a
 * key is taken (computed-setting-names.ts). A value computed from a bound parameter is refused too: the proxy never
 * sees the key there (a Bind's value is not in the statement, and the same statement may be bound with many), so it
 * could not hold it, and the server would keep it in clear. So is a value computed from string constants written in the
 * statement, in the call ((SELECT 'sk-…'), coalesce('sk-…'), format('%s', 'sk-…')) or in the columns it reads of a
 * subquery, CTE, VALUES list or function in FROM the statement writes (derived-columns.ts): the server's log would keep
 * them, as it would a call's api_key computed so (computed-secrets.ts). Any other value computed in SQL (a table's
 * column, another setting) under a key setting's name written out is the server's.
 */
function setConfigValue(call: FuncCall, sql: string, scope: Scope | undefined): KeySpan | undefined {
  if (call.funcname?.at(-1)?.String?.sval !== 'set_config') return undefined;
  const [name, value] = call.args ?? [];
  refuseComputedSettingName(call.args ?? [], PREFIX);
  const written = constantText(value);
  const setting = constantText(name);
  if (written === undefined) {
    if (value === undefined || !(isServerSetting(setting) || isApiKeySetting(setting))) return undefined;
    // Its columns of a subquery, CTE, VALUES list or function in FROM the statement writes, as what they stand for.
    const computed = withDerivedColumns(value, scope, `the value of ${setting}`);
    if (isServerSetting(setting)) {
      refuseUrlCredentials(setting!, writtenPieces(computed));
      // Bound whole, the value is read at Bind (bound-server-settings.ts); bound into an expression, it cannot be.
      if (bindsParameter(computed) && !('ParamRef' in (uncast(value) ?? {}))) {
        throw new PgError('0A000', `set_config cannot take a value of ${setting} computed from a bound parameter`, {
          hint: `The proxy reads a URL bound whole for credentials, which the server would keep in clear: bind the whole URL (set_config('${setting}', $1, false)), or write it out.`,
        });
      }
      return undefined;
    }
    if (bindsParameter(computed)) {
      throw new PgError('0A000', `set_config cannot take a value of ${setting} from a bound parameter`, {
        hint: `The server would hold the key in clear, for any code the session runs to read. Write the key out (SET ${setting} = '…', or set_config('${setting}', '…', false)): the proxy holds a key written out and hands the server only a reference to it.`,
      });
    }
    if (writesOutSecret(computed, 'key')) {
      throw new PgError('0A000', `set_config takes a value of ${setting} computed from string constants written in the statement`, {
        hint: `The server's log would keep them. Write the key as one string literal in the call (set_config('${setting}', '…', false), or SET ${setting} = '…'): the proxy holds a key written out and hands the server only a reference to it.`,
      });
    }
    return undefined;
  }
  if (isServerSetting(setting)) refuseUrlCredentials(setting!, written);
  if (!isApiKeySetting(setting)) return undefined;
  const literal = uncast(value)?.A_Const;
  if (literal?.sval === undefined) {
    throw new PgError('0A000', `set_config takes a value of ${setting} only as one string literal`, {
      hint: `The proxy holds a literal in the server's place: write set_config('${setting}', '…', false).`,
    });
  }
  return { value: written, setting: settingCase(setting), start: literal.location, end: literalEnd(sql, literal.location) };
}


/** The byte just past the string literal that starts at `start`. */
function literalEnd(sql: string, start: number): number {
  return scanSync(sql).tokens.find((token) => token.start === start)!.end;
}
