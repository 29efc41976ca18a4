// The caps a statement's model calls run under: the session's pg_llm.max_calls_per_statement and
// pg_llm.max_cost_per_statement, and its role's daily budget (daily-spend.ts). A statement whose estimate would go
// over one fails before its first call (budget-check.ts); one that reaches a cap while it runs stops there
// (statement-spending.ts). Both fail with SQLSTATE LM003, in the class of the proxy's own conditions (LM001, LM002:
// the catalog's stubs).

import type { SessionSettings } from '../../functions/declaration.js';
import { PgError } from '../../proxy/pg-error.js';
import { dailyBudgetOf, type DailyBudget } from './daily-spend.js';

export const BUDGET_EXCEEDED = 'LM003';

export interface StatementLimits {
  maxCalls: number | undefined;
  maxUsd: number | undefined;
  /** The role the calls are made for (current_user), whose daily budget applies. */
  role: string;
  daily: DailyBudget | undefined;
}

/** What spending so far the caps count: the statement's own calls and dollars. */
export interface SpentSoFar {
  calls: number;
  usd: number;
}

export function limitsOf(settings: SessionSettings, role: string): StatementLimits {
  return { maxCalls: settings.maxCallsPerStatement, maxUsd: settings.maxCostPerStatement, role, daily: dailyBudgetOf(role) };
}

/** Whether any cap applies: only then are a statement's calls estimated before they run. */
export function capped(limits: StatementLimits): boolean {
  return limits.maxCalls !== undefined || limits.maxUsd !== undefined || limits.daily !== undefined;
}

/** A cap reached by the calls of a statement that is running (LM003). */
export function capReached(what: string): PgError {
  return new PgError(BUDGET_EXCEEDED, `${what}: the statement's model calls stopped there`, {
    hint: 'Its model calls in flight were cancelled. Check what a statement would cost first with EXPLAIN or pg_llm_estimate(sql).',
  });
}
