// The prepared statements calling LLM functions a session has, each with its plan, for as long as the server keeps
// them. A plan keeps the statement's text, and what the proxy derived from it to run it (the statement rewritten for
// the fast path, a cursor's query, the statement an EXPLAIN explains): the passes are made of it at each Execute, so
// it cannot be let go of. A Parse may carry a statement of up to MAX_PARSE_BYTES, so a session's plans are bounded
// both in number and in the text they keep.

import { PgError, SqlState } from '../../proxy/pg-error.js';

/** LLM statements one session may have prepared at once; prepared-statement caches of drivers stay far below. */
export const MAX_TRACKED_STATEMENTS = 4096;
/** What one session's plans may keep: the most options.max_result_bytes lets one query's rows take (call-options.ts). */
export const MAX_TRACKED_STATEMENT_BYTES = 64 * 1024 * 1024;

export function tooManyStatements(): PgError {
  return new PgError(SqlState.ProgramLimitExceeded, `pg_llm proxy: more than ${MAX_TRACKED_STATEMENTS} prepared statements calling LLM functions exist in this session`, {
    hint: 'Close (DEALLOCATE) prepared statements you no longer need, or reuse them.',
  });
}

function tooMuchStatementText(): PgError {
  return new PgError(
    SqlState.ProgramLimitExceeded,
    `pg_llm proxy: the prepared statements calling LLM functions in this session would keep more than ${MAX_TRACKED_STATEMENT_BYTES / 1024 / 1024} MiB of SQL text`,
    { hint: 'Close (DEALLOCATE) prepared statements you no longer need, or run a big statement as a simple query.' },
  );
}

export class TrackedStatements<Statement extends object> {
  private readonly statements = new Map<string, { statement: Statement; bytes: number }>();
  private bytes = 0;

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
    this.bytes -= tracked.bytes;
    this.statements.delete(name);
  }

  clear(): void {
    this.statements.clear();
    this.bytes = 0;
  }

  /** Tracks `statement` under a name no statement has (a Parse forgets the one it redefines first), or says why not. */
  add(name: string, statement: Statement): PgError | undefined {
    if (this.statements.size >= MAX_TRACKED_STATEMENTS) return tooManyStatements();
    const bytes = bytesKept(statement);
    if (this.bytes + bytes > MAX_TRACKED_STATEMENT_BYTES) return tooMuchStatementText();
    this.statements.set(name, { statement, bytes });
    this.bytes += bytes;
    return undefined;
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
