// Statements only a transaction block of the client's takes: SAVEPOINT, RELEASE, ROLLBACK TO, COMMIT or ROLLBACK AND
// CHAIN. In the implicit transaction of an extended-protocol pipeline PostgreSQL refuses them (25P01), and the error
// ends that transaction, rolled back. Where the proxy's block stands in for it (execution.ts), the server would take
// them, and the Sync would commit what PostgreSQL rolls back: so the engine notes which of the client's prepared
// statements and portals are such statements, and ends its block (rolled back) before one runs; the server then
// refuses it as PostgreSQL would have. The portal went with the block: the client's Bind of it is sent again first.

import { readParse, readParseStatement } from '../../proxy/frontend-read.js';
import { parseSync } from '../sql/parser.js';
import { transactionControl } from './transaction-control.js';

/** Longer texts are not such a statement, or not one worth parsing to find out. */
const LONGEST = 1024;
/** The most names of each kind kept; the oldest go first (a client may prepare any number of them). */
const MAX_NAMES = 1024;
/** The type and length before a message's body; and how much of a text's start the lead keyword is looked for in. */
const HEADER_BYTES = 5;
const LEAD_BYTES = 256;
const LEADS = /^(?:\s|--[^\n]*\n|\/\*[^*]*\*\/)*(?:savepoint|release|rollback|abort|commit|end)\b/i;

export class ClientBlockStatements {
  private readonly statements = new Set<string>();
  /** Each such portal with the client's Bind of it. */
  private readonly portals = new Map<string, Buffer>();

  /** A Parse: its statement noted when its text is such a statement, else forgotten (a long one is not read). */
  parsed(frame: Buffer): void {
    // Every Parse a session sends comes here: one whose text starts otherwise, with nothing noted, is left unread.
    const sqlStart = frame.indexOf(0, HEADER_BYTES) + 1;
    const leads = sqlStart > 0 && LEADS.test(frame.toString('latin1', sqlStart, Math.min(frame.length, sqlStart + LEAD_BYTES)));
    if (!leads && this.statements.size === 0) return;
    if (!leads || frame.length > 2 * LONGEST) return void this.statements.delete(readParseStatement(frame));
    const { statement, sql } = readParse(frame);
    if (needsClientBlock(sql)) remember(this.statements, statement);
    else this.statements.delete(statement);
  }

  /** A Bind (`frame`) of `portal` to `statement`. */
  bound(portal: string, statement: string, frame: Buffer): void {
    this.portals.delete(portal);
    if (!this.statements.has(statement) || frame.length > 2 * LONGEST) return;
    this.portals.set(portal, Buffer.from(frame));
    if (this.portals.size > MAX_NAMES) this.portals.delete(this.portals.keys().next().value!);
  }

  /** A Close (or whatever drops it) of a statement ('S') or portal ('P'). */
  closed(kind: string, name: string): void {
    (kind === 'S' ? this.statements : this.portals).delete(name);
  }

  /** The client's Bind of `portal` when an Execute of it runs such a statement. */
  bindOf(portal: string): Buffer | undefined {
    return this.portals.get(portal);
  }
}

function needsClientBlock(sql: string): boolean {
  if (sql.length > LONGEST || !LEADS.test(sql)) return false;
  try {
    const statements = (parseSync(sql) as { stmts?: Array<{ stmt: Record<string, unknown> }> }).stmts ?? [];
    const transaction = statements[0]?.stmt.TransactionStmt as { kind?: unknown; chain?: unknown } | undefined;
    return statements.length === 1 && transaction !== undefined && transactionControl(transaction) === 'clientBlockOnly';
  } catch {
    return false;
  }
}

function remember(names: Set<string>, name: string): void {
  names.delete(name);
  names.add(name);
  if (names.size > MAX_NAMES) names.delete(names.values().next().value!);
}
