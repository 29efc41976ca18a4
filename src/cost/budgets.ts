// The caps a statement's model calls run under: the session's pg_llm.max_calls_per_statement and
// pg_llm.max_cost_per_statement, and the daily budgets of its role and its login role (daily-spend.ts). A statement whose estimate would go
// over one fails before its first call (budget-check.ts); one that reaches a cap while it runs stops there
// (statement-spending.ts). Each request holds its worst case (worst-case.ts) against the caps while it is in flight,
// so that requests in flight together cannot pass them. All fail with SQLSTATE LM003, in the class of the proxy's
// own conditions (LM001, LM002: the catalog's stubs).

import type { SessionSettings } from '../../functions/declaration.js';
import { PgError } from '../../proxy/pg-error.js';
import { dailyBudgetOf, type DailyBudget } from './daily-spend.js';

export const BUDGET_EXCEEDED = 'LM003';

export interface StatementLimits {
  maxCalls: number | undefined;
  maxUsd: number | undefined;
  /**
   * The daily budgets that apply: the one of the role the calls are made for (current_user), and the one of the
   * session's login role (session_user), so that SET ROLE leaves neither behind.
   */
  daily: Array<{ role: string; budget: DailyBudget }>;
}

/** What spending so far the caps count: the statement's own calls and dollars. */
export interface SpentSoFar {
  calls: number;
  usd: number;
}

export function limitsOf(settings: SessionSettings, roles: { role: string; login: string }): StatementLimits {
  const daily = [...new Set([roles.role, roles.login])].flatMap((role) => {
    const budget = dailyBudgetOf(role);
    return budget ? [{ role, budget }] : [];
  });
  return { maxCalls: settings.maxCallsPerStatement, maxUsd: settings.maxCostPerStatement, daily };
}

/** Whether any cap applies: only then are a statement's calls estimated before they run. */
export function capped(limits: StatementLimits): boolean {
  return limits.maxCalls !== undefined || limits.maxUsd !== undefined || limits.daily.length > 0;
}

/**
 * What a request in flight holds of a cap: given back when the request ends, with its cost (undefined when it got no
 * answer, or its model has no price) counted instead.
 */
export type Hold = (usd: number | undefined) => void;

/** A request of the worker's (made for no statement) that its payer's daily budget leaves no room for (LM003). */
export function dayRefused(what: string): PgError {
  return new PgError(BUDGET_EXCEEDED, `${what}: the model was not called`, {
    hint: 'A daily budget starts afresh at 00:00 UTC; the operator sets them with --role-daily-budgets.',
  });
}

/** Whether the error is a cap's or a budget's refusal (LM003). */
export function overBudget(error: unknown): error is PgError {
  return error instanceof PgError && error.sqlstate === BUDGET_EXCEEDED;
}

/** A cap reached by the calls of a statement that is running (LM003). */
export function capReached(what: string): PgError {
  return new PgError(BUDGET_EXCEEDED, `${what}: the statement's model calls stopped there`, {
    hint: 'Its model calls in flight were cancelled. Check what a statement would cost first with EXPLAIN or pg_llm_estimate(sql).',
  });
}
