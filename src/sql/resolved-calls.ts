// The functions and operators a statement resolves to, as PostgreSQL's own parse analysis resolves them in the
// caller's session: the statement (its string constants made NULL, so that the analysis runs no code of a type's:
// without-string-constants.ts) becomes the body of a temporary SQL function (BEGIN ATOMIC, whose body PostgreSQL
// stores as its parse tree), created in a savepoint that is rolled back. The tree names each function and operator
// by oid. Undefined where PostgreSQL cannot do this analysis (a read-only transaction or a hot standby, no TEMP
// privilege, a statement that is not valid as a function's body): the caller then judges every candidate.
//
// The temporary function marks the transaction as one that used temporary objects, which PREPARE TRANSACTION
// refuses, so function-check.ts asks only when the candidates refused the statement and one of its names can resolve
// to another's function or operator. Its CREATE is a DDL statement that log_statement = 'ddl' logs: with the
// statement's constants NULL, no value of the statement's reaches the log that way.

import type { CallContext } from '../../functions/declaration.js';
import { PgError } from '../../proxy/pg-error.js';
import { runRolledBack } from './sandbox.js';
import { withoutStringConstants } from './without-string-constants.js';

export interface ResolvedCalls {
  /** Called as functions (aggregates and window functions too). */
  functions: string[];
  /** Only ever applied as casts, implicit or explicit. */
  casts: string[];
  operators: string[];
}

/**
 * The fields of a stored parse tree that hold a function's or an operator's oid (or a list of operators', as
 * `:opnos (o 96 97)`): calls and casts, aggregates, window functions, the operators of expressions and row
 * comparisons, of ORDER BY, GROUP BY and DISTINCT, a window's RANGE offset, and the <> a recursive query's CYCLE
 * clause compares with. Not an operator's function (opfuncid, hashfuncid…), judged with the operator, and through it.
 */
const FUNCTION_FIELDS = ['funcid', 'aggfnoid', 'winfnoid', 'startInRangeFunc', 'endInRangeFunc'];
const OPERATOR_FIELDS = ['opno', 'opnos', 'eqop', 'sortop', 'cycle_mark_neop'];

const FUNCTION_NAME = 'pg_llm_checked_statement';

// A function call's funcformat: 1 an explicit cast, 2 an implicit one (0 a call, 3 SQL syntax such as EXTRACT).
const RESOLVED = `
WITH tree AS (
    SELECT p.prosqlbody::pg_catalog.text AS body FROM pg_catalog.pg_proc p
     WHERE p.proname OPERATOR(pg_catalog.=) '${FUNCTION_NAME}' AND p.pronamespace OPERATOR(pg_catalog.=) pg_catalog.pg_my_temp_schema()),
  field AS (
    SELECT m[1] AS name, named.oid
      FROM tree, pg_catalog.regexp_matches(tree.body, ':([A-Za-z_]+) \\(?o? ?([0-9 ]+)', 'g') AS m,
           pg_catalog.unnest(pg_catalog.string_to_array(pg_catalog.btrim(m[2]), ' ')::pg_catalog.oid[]) AS named(oid)
     WHERE named.oid OPERATOR(pg_catalog.<>) 0),
  cast_call AS (
    SELECT m[1]::pg_catalog.oid AS oid FROM tree, pg_catalog.regexp_matches(tree.body, '\\{FUNCEXPR :funcid ([0-9]+) [^{}]*:funcformat [12] ', 'g') AS m),
  called AS (
    SELECT oid FROM field WHERE name OPERATOR(pg_catalog.=) ANY ($1::pg_catalog.text[])
    EXCEPT ALL
    SELECT oid FROM cast_call)
SELECT (SELECT pg_catalog.array_agg(DISTINCT oid) FROM called) AS functions,
       (SELECT pg_catalog.array_agg(DISTINCT oid) FROM cast_call WHERE oid OPERATOR(pg_catalog.<>) ALL (SELECT oid FROM called)) AS casts,
       (SELECT pg_catalog.array_agg(DISTINCT oid) FROM field WHERE name OPERATOR(pg_catalog.=) ANY ($2::pg_catalog.text[])) AS operators`;

/** Bounds the analysis of a statement in a pathological catalog; past it, every candidate is judged. */
const ANALYSIS_TIMEOUT_MS = 5_000;

/** Failures of the session, the server or the client's own cancel, which say nothing of the statement. */
const NOT_THE_STATEMENT = /^(08|53|57P|58|XX)/;

export async function resolvedCalls(context: CallContext, text: string): Promise<ResolvedCalls | undefined> {
  const body = await withoutStringConstants(text);
  if (body === undefined) return undefined;
  try {
    const [, , resolved] = await runRolledBack(context, { readOnly: false, timeoutMs: ANALYSIS_TIMEOUT_MS }, [
      // Not the validator's rewrite of the body (views, rules, defaults): the parse tree is enough.
      { sql: `SELECT pg_catalog.set_config('check_function_bodies', 'off', true)` },
      // On lines of their own, so that a comment ending the statement does not take them in.
      { sql: `CREATE FUNCTION pg_temp.${FUNCTION_NAME}() RETURNS void LANGUAGE sql BEGIN ATOMIC\n${body}\n; END` },
      { sql: RESOLVED, parameters: [array(FUNCTION_FIELDS), array(OPERATOR_FIELDS)] },
    ]);
    const [functions, casts, operators] = resolved!.rows[0]!;
    return { functions: oids(functions), casts: oids(casts), operators: oids(operators) };
  } catch (error) {
    if (context.signal.aborted || !(error instanceof PgError) || NOT_THE_STATEMENT.test(error.sqlstate)) throw error;
    return undefined;
  }
}

function array(items: string[]): string {
  return `{${items.join(',')}}`;
}

function oids(value: string | null | undefined): string[] {
  return value ? value.slice(1, -1).split(',') : [];
}
