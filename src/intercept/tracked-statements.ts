// The prepared statements calling LLM functions a session has, each with its plan, for as long as the server keeps
// them. A plan keeps the statement's text, and what the proxy derived from it to run it (the statement rewritten for
// the fast path, a cursor's query, the statement an EXPLAIN explains): the passes are made of it at each Execute, so
// it cannot be let go of. A Parse may carry a statement of up to MAX_PARSE_BYTES, so a session's plans are bounded in
// number, and the plans of all the sessions of a login role in the text they keep (a role may open as many sessions
// as the server lets it).

import { PgError, SqlState } from '../../proxy/pg-error.js';
import type { RoleBytes, SessionBytes } from './role-bytes.js';

/** LLM statements one session may have prepared at once; prepared-statement caches of drivers stay far below. */
export const MAX_TRACKED_STATEMENTS = 4096;
/**
 * What the plans of one login role's sessions may keep together: the most options.max_result_bytes lets one query's
 * rows take (call-options.ts).
 */
export const MAX_ROLE_STATEMENT_BYTES = 64 * 1024 * 1024;

/**
 * What V8 takes for a statement beyond the characters and numbers bytesKept counts: its entry in the map, the objects
 * of its plan and their fields' slots (about 1.1 kB for an LLM call's plan, measured).
 */
const ENTRY_BYTES = 1024;

export function tooManyStatements(): PgError {
  return new PgError(SqlState.ProgramLimitExceeded, `pg_llm proxy: more than ${MAX_TRACKED_STATEMENTS} prepared statements the proxy keeps (those calling LLM functions or installing pg_llm) exist in this session`, {
    hint: 'Close (DEALLOCATE) prepared statements you no longer need, or reuse them.',
  });
}

function tooMuchStatementText(limit: number): PgError {
  return new PgError(
    SqlState.ProgramLimitExceeded,
    `pg_llm proxy: the prepared statements the proxy keeps (those calling LLM functions or installing pg_llm) in this login role's sessions would keep more than ${limit / 1024 / 1024} MiB of SQL text, the bound for all of a role's sessions together`,
    { hint: "Close (DEALLOCATE) prepared statements you no longer need, in this session or the role's others, or run a big statement as a simple query." },
  );
}

/** A statement with the bytes its plan keeps, counted in the role's account for as long as the proxy may need it. */
export interface KeptStatement<Statement> {
  statement: Statement;
  bytes: number;
}

export class TrackedStatements<Statement extends object> {
  private readonly statements = new Map<string, KeptStatement<Statement>>();
  /** The plans' bytes, in the account of the session's login role; a statement set aside keeps its room there. */
  private readonly bytes: SessionBytes;

  constructor(roles: RoleBytes, role: string) {
    this.bytes = roles.open(role);
  }

  get size(): number {
    return this.statements.size;
  }

  get(name: string): Statement | undefined {
    return this.statements.get(name)?.statement;
  }

  has(name: string): boolean {
    return this.statements.has(name);
  }

  delete(name: string): void {
    const tracked = this.statements.get(name);
    if (!tracked) return;
    this.bytes.add(-tracked.bytes);
    this.statements.delete(name);
  }

  clear(): void {
    for (const name of this.statements.keys()) this.delete(name);
  }

  /**
   * Tracks `statement` under a name no statement has (a Parse sets aside the one it redefines first), or says why
   * not. It may take the room of the statement it redefines (`redefines`, set aside): one of the two goes once the
   * server has answered, so the role passes its bound by one plan at the most, and only until then.
   */
  add(name: string, statement: Statement, redefines?: { bytes: number }): PgError | undefined {
    if (this.statements.size >= MAX_TRACKED_STATEMENTS) return tooManyStatements();
    const bytes = ENTRY_BYTES + name.length + bytesKept(statement);
    if (!this.bytes.fits(bytes, redefines?.bytes)) return tooMuchStatementText(this.bytes.limit);
    this.statements.set(name, { statement, bytes });
    this.bytes.add(bytes);
    return undefined;
  }

  /**
   * Takes the statement out of those known while a Parse over its name may yet be refused; its room stays taken, so
   * that it can always be put back (another session of the role may have taken what was freed meanwhile).
   */
  setAside(name: string): KeptStatement<Statement> | undefined {
    const kept = this.statements.get(name);
    this.statements.delete(name);
    return kept;
  }

  /** The statement set aside is known again under `name`, in place of whatever is there now. */
  putBack(name: string, kept: KeptStatement<Statement>): void {
    this.delete(name);
    this.statements.set(name, kept);
  }

  /** The statement set aside is gone for good: its room goes back to the role. */
  letGo(kept: KeptStatement<Statement> | undefined): void {
    this.bytes.add(-(kept?.bytes ?? 0));
  }

  /** The session is over: its statements, and those set aside, give their room back. */
  end(): void {
    this.statements.clear();
    this.bytes.end();
  }
}

/**
 * About the bytes a statement's plan keeps, counted through every field, so that whatever a plan comes to keep is
 * counted: a byte a character (V8 keeps SQL, which is mostly ASCII, as one-byte strings), 8 a number (the parameter
 * types a Parse may list by the thousand).
 */
function bytesKept(value: unknown): number {
  if (typeof value === 'string') return value.length;
  if (typeof value === 'number') return 8;
  if (typeof value !== 'object' || value === null) return 0;
  let bytes = 0;
  for (const field of Object.values(value)) bytes += bytesKept(field);
  return bytes;
}
