// Where a query string hands the server pg_llm.master_key: the value of each top-level SET (which the proxy can
// take in), and the ways it cannot take in — ALTER ROLE/DATABASE/SYSTEM … SET and a function's SET clause (the
// server's catalog would keep the key), set_config() with the name written out (the statement would carry it) or
// computed, where the proxy cannot tell it is not the master key's.

import { parseSync, TooComplexToParse } from './parser.js';
import { PgError } from '../../proxy/pg-error.js';
import { codeBody, type DefElem } from './code-bodies.js';
import { refuseComputedSettingName } from './computed-setting-names.js';
import { constantText, type Expression } from './constant-text.js';
import { parseTask } from './parse-task.js';

export const MASTER_KEY_SETTING = 'pg_llm.master_key';

/** A top-level SET of the master key: its value, and the bytes of the query string from the value to the statement's end. */
export interface MasterKeySet {
  value: string;
  start: number;
  end: number;
}

/** True when the text names the setting, maybe with a letter escaped (E'…\x5f…', U&"…\005f…"), but for "master". */
export function mentionsMasterKey(text: string): boolean {
  return /master/i.test(text);
}

/**
 * True when the text could set the setting, however its name is spelt: named, or a U&"…" identifier, or set_config,
 * whose name may be written in pieces ('pg_llm.mas' || 'ter_key'); anything else needs no parse.
 */
export function maySetMasterKey(text: string): boolean {
  return /master|u&|set_config/i.test(text);
}

/** masterKeySets as a parse task: a big statement naming the setting is parsed where it holds up no other session. */
export const MASTER_KEY_SETS = parseTask(import.meta.url, 'masterKeySets', (sql: string) => masterKeySets(sql));

/** The SETs of the master key in `sql`, in order; throws a PgError for any other way the statement sets it. */
export function masterKeySets(sql: string): MasterKeySet[] {
  let tree: { stmts?: Array<{ stmt: Record<string, unknown>; stmt_location?: number; stmt_len?: number }> };
  try {
    tree = parseSync(sql) as typeof tree;
  } catch (error) {
    if (error instanceof TooComplexToParse) throw error;
    // The server would refuse it too, and its log would keep the statement with the key in it.
    throw new PgError('42601', `${(error as Error).message} (in a statement that names ${MASTER_KEY_SETTING}; not sent to the server)`);
  }
  const sets: MasterKeySet[] = [];
  const length = Buffer.byteLength(sql);
  for (const { stmt, stmt_location: location = 0, stmt_len: statementLength } of tree.stmts ?? []) {
    const top = stmt.VariableSetStmt as VariableSet | undefined;
    if (top && isMasterKey(top.name) && top.kind === 'VAR_SET_VALUE') {
      sets.push({ value: valueOf(top), start: top.args![0]!.A_Const!.location, end: statementLength ? location + statementLength : length });
      continue;
    }
    refuseNested(stmt, sql);
  }
  return sets;
}

interface VariableSet {
  kind: string;
  name?: string;
  args?: Array<{ A_Const?: { sval?: { sval: string }; ival?: { ival?: number }; fval?: { fval: string }; location: number } }>;
}

function isMasterKey(name: string | undefined): boolean {
  return name?.toLowerCase() === MASTER_KEY_SETTING;
}

function valueOf(set: VariableSet): string {
  const constant = set.args?.length === 1 ? set.args[0]!.A_Const : undefined;
  const value = constant?.sval?.sval ?? constant?.fval?.fval ?? (constant?.ival ? String(constant.ival.ival ?? 0) : undefined);
  if (value === undefined) {
    throw new PgError('22023', `SET ${MASTER_KEY_SETTING} takes one value`, { hint: `Write it as a string: SET ${MASTER_KEY_SETTING} = '…'.` });
  }
  return value;
}

function refuseNested(node: unknown, sql: string): void {
  if (Array.isArray(node)) return node.forEach((item) => refuseNested(item, sql));
  if (node === null || typeof node !== 'object') return;
  // Nested, a SET is a VariableSetStmt node or the `setstmt` of ALTER ROLE/DATABASE/SYSTEM: matched by its shape.
  const set = node as VariableSet;
  if (set.kind === 'VAR_SET_VALUE' && isMasterKey(set.name)) {
    throw new PgError('0A000', `${MASTER_KEY_SETTING} can be set only in a session, with SET`, {
      hint: `The server would keep the key in its catalog. Use SET ${MASTER_KEY_SETTING} in the session (the proxy keeps the key, the server only a reference to it), or start the proxy with --master-key (PG_LLM_MASTER_KEY).`,
    });
  }
  for (const [key, value] of Object.entries(node)) {
    if (key === 'FuncCall') {
      const call = value as FuncCall;
      if (setsAnySetting(call)) refuseComputedSettingName(call.args ?? [], MASTER_KEY_SETTING);
      if (setsAnySetting(call) && !namesOtherSetting(call, sql)) {
        throw new PgError('0A000', `set_config cannot set ${MASTER_KEY_SETTING}`, {
          hint: `The statement would carry the key to the server and its log. Use SET ${MASTER_KEY_SETTING} (or SET LOCAL), which the proxy takes in.`,
        });
      }
      // current_setting's argument names the setting only to read it (the server holds a reference, never the key).
      if (readsSetting(call)) {
        refuseNested(call.args?.slice(1), sql);
        continue;
      }
    }
    const named = key === 'A_Const' ? (value as Constant).sval?.sval : key === 'DefElem' ? codeBody(value as DefElem) : undefined;
    if (named !== undefined && /master_key/i.test(named)) {
      throw new PgError('0A000', `${MASTER_KEY_SETTING} may be named only by SET, RESET, SHOW and current_setting()`, {
        hint: `Other ways (set_config, PREPARE/EXECUTE, DO, pg_settings) would carry the key to the server and its log. Use SET ${MASTER_KEY_SETTING} (or SET LOCAL), which the proxy takes in.`,
      });
    }
    refuseNested(value, sql);
  }
}

interface Constant {
  sval?: { sval: string };
}

interface FuncCall {
  funcname?: Array<{ String?: { sval: string } }>;
  args?: Expression[];
}

function calls(call: FuncCall, name: string): boolean {
  return call.funcname?.at(-1)?.String?.sval === name;
}

function setsAnySetting(call: FuncCall): boolean {
  return calls(call, 'set_config');
}

/**
 * A set_config whose name is written out (constant-text.ts) and is not the master key's. A computed name could be,
 * in a statement that names the setting, whatever its value (a passphrase may be short); elsewhere, with a value that
 * could be a key, it was refused before (computed-setting-names.ts).
 */
function namesOtherSetting(call: FuncCall, sql: string): boolean {
  const name = constantText(call.args?.[0]);
  return name === undefined ? !mentionsMasterKey(sql) : !isMasterKey(name);
}

function readsSetting(call: FuncCall): boolean {
  return calls(call, 'current_setting') && call.args?.[0]?.A_Const !== undefined;
}
