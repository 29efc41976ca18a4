// Statements that end, or need, a transaction block of the client's: COMMIT, END, PREPARE TRANSACTION, ROLLBACK,
// ABORT; SAVEPOINT, RELEASE, ROLLBACK TO, COMMIT or ROLLBACK AND CHAIN. In the implicit transaction of an extended-
// protocol pipeline PostgreSQL ends that transaction at the first five (committed, or rolled back), with a warning
// that no transaction was in progress (25P01), and refuses the others (25P01), the error ending it rolled back.
// Where the proxy's block stands in for it (execution.ts), the server would take them in that block: the Sync would
// commit what PostgreSQL rolls back, and the statements after a COMMIT would find no block where PostgreSQL starts a
// new implicit one. So the engine notes which of the client's prepared statements and portals are such statements,
// and ends its block (as PostgreSQL ends the implicit one) before one runs; the server, in no block, then answers it
// as PostgreSQL would have. The portal went with the block: a Bind of it is sent again first (such a statement takes
// no parameters, and its result formats change nothing, so a Bind of the names alone).

import { readParseStatement } from '../../proxy/frontend-read.js';
import { bind } from '../../proxy/frontend-write.js';
import { parseSync } from '../sql/parser.js';
import { firstTokenAt, leadsAsTransaction, transactionWords } from '../sql/transaction-text.js';
import { transactionControl } from './transaction-control.js';

/** Longer texts (of words: transaction-text.ts) are not such a statement, or not one worth parsing to find out. */
const LONGEST = 1024;
/** The most names of each kind kept; the oldest go first (a client may prepare any number of them). */
const MAX_NAMES = 1024;
/** The type and length before a message's body; and the bytes of a text's first token that tell whether it leads such a statement. */
const HEADER_BYTES = 5;
const LEAD_BYTES = 16;

/** How a portal of such a statement ends the proxy's block, and the client's Bind of it. */
export interface BlockEnding {
  bind: Buffer;
  /** As PostgreSQL's COMMIT ends its implicit transaction; else as an error or ROLLBACK does. */
  commits: boolean;
}

export class ClientBlockStatements {
  /** Each such statement, and whether it commits. */
  private readonly statements = new Map<string, boolean>();
  private readonly portals = new Map<string, BlockEnding>();

  /** Whether a Parse changes what is noted: its text is such a statement, or its name stands for one now. */
  changes(frame: Buffer): boolean {
    return this.change(frame) !== undefined;
  }

  /**
   * A Parse's change to what is noted, made now, as a Bind of the statement may follow before the server answers;
   * `undo` is for a Parse the server refuses (one naming a statement that exists: 42P05) or never runs. Undefined when
   * the Parse changes nothing. Review L3: noted for good at once, a refused Parse made the proxy forget a SAVEPOINT the
   * server kept, or take a statement the server kept for a COMMIT.
   */
  parsed(frame: Buffer): { undo(skipped: boolean): void } | undefined {
    const change = this.change(frame);
    if (!change) return undefined;
    const { statement, commits, before } = change;
    if (commits === undefined) this.statements.delete(statement);
    else remember(this.statements, statement, commits);
    return {
      undo: (skipped) => {
        // PostgreSQL drops the unnamed statement before it parses a new one, whatever becomes of that.
        if ((statement === '' && !skipped) || before === undefined) this.statements.delete(statement);
        else remember(this.statements, statement, before);
      },
    };
  }

  /** What a Parse would note for its statement (undefined: none), and what was noted before; undefined when that is the same. */
  private change(frame: Buffer): { statement: string; commits: boolean | undefined; before: boolean | undefined } | undefined {
    // Every Parse a session sends comes here: one whose text starts otherwise, with nothing noted, is left unread.
    const sqlStart = frame.indexOf(0, HEADER_BYTES) + 1;
    const sqlEnd = sqlStart > 0 ? frame.indexOf(0, sqlStart) : -1;
    const first = sqlEnd > 0 ? firstTokenAt((index) => frame[index], sqlStart, sqlEnd) : -1;
    const leads = first >= 0 && leadsAsTransaction(frame.toString('latin1', first, Math.min(sqlEnd, first + LEAD_BYTES)));
    if (!leads && this.statements.size === 0) return undefined;
    const statement = readParseStatement(frame);
    const before = this.statements.get(statement);
    const commits = leads ? endingCommits(frame.toString('utf8', first, sqlEnd)) : undefined;
    return commits === before ? undefined : { statement, commits, before };
  }

  /** A Bind of `portal` to `statement`. */
  bound(portal: string, statement: string): void {
    this.portals.delete(portal);
    const commits = this.statements.get(statement);
    if (commits === undefined) return;
    this.portals.set(portal, { bind: bind(portal, statement), commits });
    if (this.portals.size > MAX_NAMES) this.portals.delete(this.portals.keys().next().value!);
  }

  /** A Close (or whatever drops it) of a statement ('S') or portal ('P'). */
  closed(kind: string, name: string): void {
    (kind === 'S' ? this.statements : this.portals).delete(name);
  }

  /** How an Execute of `portal` ends the proxy's block, when it runs such a statement. */
  endingOf(portal: string): BlockEnding | undefined {
    return this.portals.get(portal);
  }
}

/** For such a statement, whether it ends PostgreSQL's implicit transaction committed; else undefined. */
function endingCommits(sql: string): boolean | undefined {
  const words = transactionWords(sql);
  if (words === undefined || words.length > LONGEST) return undefined;
  try {
    const statements = (parseSync(words) as { stmts?: Array<{ stmt: Record<string, unknown> }> }).stmts ?? [];
    const transaction = statements[0]?.stmt.TransactionStmt as { kind?: unknown; chain?: unknown } | undefined;
    if (statements.length !== 1 || transaction === undefined) return undefined;
    const control = transactionControl(transaction);
    // An Executed PREPARE TRANSACTION outside a client's block commits what ran, with a warning, and prepares nothing.
    if (control === 'commit' || control === 'prepare') return true;
    return control === 'rollback' || control === 'clientBlockOnly' ? false : undefined;
  } catch {
    return undefined;
  }
}

function remember(names: Map<string, boolean>, name: string, commits: boolean): void {
  names.delete(name);
  names.set(name, commits);
  if (names.size > MAX_NAMES) names.delete(names.keys().next().value!);
}
