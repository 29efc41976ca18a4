// What a transaction statement does to the transaction block it runs in, as PostgreSQL has it for the statements
// of one simple Query (exec_simple_query, xact.c). A Query of several statements runs them in one implicit block:
// a BEGIN in it makes the block the client's own, taking in what ran before it; a COMMIT or ROLLBACK ends it (with a
// warning that no transaction was in progress); the statements that need a block of the client's are refused in it.
// When the proxy runs such a Query, a block of its own stands in for the implicit one (execution.ts).

export type TransactionControl =
  /** BEGIN, START TRANSACTION: the block becomes the client's. */
  | 'begin'
  /** PREPARE TRANSACTION: the block is prepared, and ends. */
  | 'prepare'
  /** COMMIT, END. */
  | 'commit'
  /** ROLLBACK, ABORT. */
  | 'rollback'
  /** SAVEPOINT, RELEASE, ROLLBACK TO, and COMMIT or ROLLBACK AND CHAIN: refused outside a block of the client's. */
  | 'clientBlockOnly'
  /** COMMIT PREPARED, ROLLBACK PREPARED: refused inside any block. */
  | 'outsideBlocks';

/** A TransactionStmt of PostgreSQL's parse tree. */
export function transactionControl(statement: { kind?: unknown; chain?: unknown }): TransactionControl {
  switch (statement.kind) {
    case 'TRANS_STMT_BEGIN':
    case 'TRANS_STMT_START':
      return 'begin';
    case 'TRANS_STMT_PREPARE':
      return 'prepare';
    case 'TRANS_STMT_COMMIT':
      return statement.chain ? 'clientBlockOnly' : 'commit';
    case 'TRANS_STMT_ROLLBACK':
      return statement.chain ? 'clientBlockOnly' : 'rollback';
    case 'TRANS_STMT_COMMIT_PREPARED':
    case 'TRANS_STMT_ROLLBACK_PREPARED':
      return 'outsideBlocks';
  }
  return 'clientBlockOnly';
}

/**
 * Whether the statement is one PostgreSQL runs in a failed block, which leaves the failure behind (postgres.c's
 * IsTransactionExitStmt): COMMIT and PREPARE TRANSACTION end it as ROLLBACK does, ROLLBACK TO goes back before it.
 */
export function leavesFailure(statement: { kind?: unknown }): boolean {
  return ['TRANS_STMT_COMMIT', 'TRANS_STMT_PREPARE', 'TRANS_STMT_ROLLBACK', 'TRANS_STMT_ROLLBACK_TO'].includes(String(statement.kind));
}

/** Whether the client is in a block of its own after the statement ran, having been in one (`before`) or not. */
export function inClientBlockAfter(control: TransactionControl, before: boolean): boolean {
  switch (control) {
    case 'begin':
      return true;
    case 'prepare':
    case 'commit':
    case 'rollback':
      return false;
  }
  return before;
}
