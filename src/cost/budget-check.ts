// The check of a statement's calls against its caps before the first of them runs (budgets.ts): their estimate
// (estimate.ts), with what the statement has spent already (its earlier passes) and its roles today, must stay within
// each cap, or the statement fails with LM003, the estimate in the hint.

import { PgError } from '../../proxy/pg-error.js';
import { BUDGET_EXCEEDED, type SpentSoFar, type StatementLimits } from './budgets.js';
import { spentToday } from './daily-spend.js';
import { dollars } from './dollars.js';
import { describeEstimate, estimateTotals, type ModelEstimate } from './estimate.js';

/** Refuses (LM003) calls whose estimate would take the statement, or its role's day, over a cap. */
export function checkEstimate(estimate: ModelEstimate[], limits: StatementLimits, statement: SpentSoFar): void {
  const totals = estimateTotals(estimate);
  const calls = statement.calls + totals.distinctCalls;
  const usd = statement.usd + totals.usd;
  const daily = (): string | undefined => {
    for (const { role, budget } of limits.daily) {
      const today = spentToday(role);
      if (budget.calls !== undefined && today.calls + totals.distinctCalls > budget.calls) {
        return `role "${role}" may make ${budget.calls} model calls a day, has made ${today.calls} today, and the statement would make ${totals.distinctCalls}`;
      }
      if (budget.usd !== undefined && today.usd + totals.usd > budget.usd) {
        return `role "${role}" may spend ${dollars(budget.usd)} a day on model calls, has spent ${dollars(today.usd)} today, and the statement would cost about ${dollars(totals.usd)}`;
      }
    }
    return undefined;
  };
  const over =
    limits.maxCalls !== undefined && calls > limits.maxCalls
      ? `pg_llm.max_calls_per_statement is ${limits.maxCalls}, and the statement would make ${calls} model calls`
      : limits.maxUsd !== undefined && usd > limits.maxUsd
        ? `pg_llm.max_cost_per_statement is ${dollars(limits.maxUsd)}, and the statement's model calls would cost about ${dollars(usd)}`
        : daily();
  if (over === undefined) return;
  throw new PgError(BUDGET_EXCEEDED, `${over}: no model was called`, {
    hint: `Estimate: ${describeEstimate(estimate)}. Raise the cap (SET pg_llm.max_calls_per_statement, pg_llm.max_cost_per_statement; the operator sets daily budgets), or call the models for fewer rows.`,
  });
}
