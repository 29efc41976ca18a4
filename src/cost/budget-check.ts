// The check of a statement's calls against its caps before the first of them runs (budgets.ts): their estimate
// (estimate.ts), with what the statement has spent already (its earlier passes) and its role today, must stay within
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
  const today = limits.daily && spentToday(limits.role);
  const over =
    limits.maxCalls !== undefined && calls > limits.maxCalls
      ? `pg_llm.max_calls_per_statement is ${limits.maxCalls}, and the statement would make ${calls} model calls`
      : limits.maxUsd !== undefined && usd > limits.maxUsd
        ? `pg_llm.max_cost_per_statement is ${dollars(limits.maxUsd)}, and the statement's model calls would cost about ${dollars(usd)}`
        : limits.daily?.calls !== undefined && today!.calls + totals.distinctCalls > limits.daily.calls
          ? `role "${limits.role}" may make ${limits.daily.calls} model calls a day, has made ${today!.calls} today, and the statement would make ${totals.distinctCalls}`
          : limits.daily?.usd !== undefined && today!.usd + totals.usd > limits.daily.usd
            ? `role "${limits.role}" may spend ${dollars(limits.daily.usd)} a day on model calls, has spent ${dollars(today!.usd)} today, and the statement would cost about ${dollars(totals.usd)}`
            : undefined;
  if (over === undefined) return;
  throw new PgError(BUDGET_EXCEEDED, `${over}: no model was called`, {
    hint: `Estimate: ${describeEstimate(estimate)}. Raise the cap (SET pg_llm.max_calls_per_statement, pg_llm.max_cost_per_statement; the operator sets daily budgets), or call the models for fewer rows.`,
  });
}
