// The statements the matrix's drivers written in TypeScript (and psql) run, and the helpers their scenarios share;
// scripts/matrix.py and DriveJdbc.java hold the same for theirs. driver-matrix.ts says what each must answer.

export const SIMPLE_RESULT = `SELECT sum(n)::int AS total, 'été' AS word FROM simple_t`;
export const SIMPLE = `CREATE TEMP TABLE simple_t (n int); INSERT INTO simple_t VALUES (1), (2), (3); ${SIMPLE_RESULT}`;
export const EXTENDED = 'SELECT $1::int + 1 AS n, $2::text AS t';
export const EXTENDED_VALUES = [41, 'été'] as const;
export const DOUBLED = 'SELECT $1::int * 2 AS n';
export const SERVER_PREPARED = 'SELECT count(*)::int AS n FROM pg_prepared_statements WHERE NOT from_sql';
export const BINARY = `SELECT 42::int4 AS i, 1.5::float8 AS f, '\\xdeadbeef'::bytea AS b, 'été'::text AS t, '2024-02-29'::date AS d`;
export const COPY_TABLE = 'CREATE TEMP TABLE copy_t (id int, word text)';
export const COPY_IN = 'COPY copy_t FROM STDIN';
export const COPY_OUT = 'COPY copy_t TO STDOUT';
export const COPY_DATA = '1\tone\n2\ttwo\n3\tété\n';
export const COPIED = 'SELECT count(*)::int AS n FROM copy_t';
/** (statement, whether it fails): the scenario answers the SQLSTATEs of the failing ones, in order. */
export const TRANSACTION: ReadonlyArray<readonly [string, boolean]> = [
  ['CREATE TEMP TABLE tx_t (id int)', false],
  ['BEGIN', false],
  ['INSERT INTO tx_t VALUES (1)', false],
  ['SAVEPOINT s', false],
  ['SELECT 1/0', true],
  ['SELECT 1', true],
  ['ROLLBACK TO SAVEPOINT s', false],
  ['INSERT INTO tx_t VALUES (2)', false],
  ['COMMIT', false],
  ['BEGIN', false],
  ['INSERT INTO tx_t VALUES (3)', false],
  ['SELECT 1/0', true],
  ['ROLLBACK', false],
];
export const COMMITTED = 'SELECT array_agg(id ORDER BY id) AS ids FROM tx_t';
export const SLEEP = 'SELECT pg_sleep(20)';
export const SILENT_CALL = `SELECT pg_llm_chat('silent', 'never answered')`;
export const LLM_CALL = `SELECT pg_llm_chat('llm', $1) AS answer`;
/** Milliseconds before a cancel is sent: the statement is running by then. */
export const CANCEL_AFTER_MS = 500;
export const CANCELLED_APP = 'matrix-cancel';
/** Sessions of CANCELLED_APP running a statement: the server works for it (or the proxy, for its calls, holds a transaction open). */
export const RUNNING_CANCELLED = `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name = '${CANCELLED_APP}' AND state <> 'idle'`;
export const CLOSING_APP = 'matrix-close';
export const BACKENDS_OF_CLOSED = `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name = '${CLOSING_APP}'`;
export const TLS_APP = 'matrix-tls';
export const UPSTREAM_SSL = `SELECT current_user::text AS user, ssl FROM pg_stat_ssl JOIN pg_stat_activity USING (pid) WHERE datname = current_database() AND application_name = '${TLS_APP}'`;

/** Polls `check` until it holds or `ms` pass; answers whether it held. */
export async function eventually(check: () => Promise<boolean>, ms = 10_000): Promise<boolean> {
  for (const deadline = Date.now() + ms; ; await new Promise((resolve) => setTimeout(resolve, 100))) {
    if (await check()) return true;
    if (Date.now() > deadline) return false;
  }
}

/** The error a promise rejects with, or undefined when it resolves. */
export async function failure(promise: Promise<unknown>): Promise<{ code?: string; message?: string } | undefined> {
  return promise.then(
    () => undefined,
    (error: { code?: string; message?: string }) => error,
  );
}
