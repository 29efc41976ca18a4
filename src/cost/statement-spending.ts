// What one client statement's model calls have spent while it runs, against its caps (budgets.ts): each request to
// a model provider counts when it goes out, and its cost when its answer tells its usage (src/providers/metrics.ts
// reports both, for the statement whose async context the request runs in). A request that a cap leaves no room for
// is refused before it is sent; a cost that goes over a cap stops the statement: the requests in flight are
// cancelled (`signal`), and every call of the statement fails with the cap's error (`exceeded`).

import { AsyncLocalStorage } from 'node:async_hooks';
import type { PgError } from '../../proxy/pg-error.js';
import { capReached, type StatementLimits } from './budgets.js';
import { dollars, plusDollars } from './dollars.js';
import { spentToday } from './daily-spend.js';

const running = new AsyncLocalStorage<StatementSpending>();

export class StatementSpending {
  calls = 0;
  usd = 0;
  /** Set once a cap is reached: what every call of the statement fails with from then on. */
  exceeded: PgError | undefined;
  private readonly stop = new AbortController();
  private limits: Promise<StatementLimits> | undefined;
  private known: StatementLimits | undefined;

  /** Aborted once a cap is reached. */
  get signal(): AbortSignal {
    return this.stop.signal;
  }

  /** The statement's caps, as the session's settings give them (read once, by its first call). */
  limitBy(limits: Promise<StatementLimits>): void {
    if (this.limits) return;
    this.limits = limits.then((known) => (this.known = known));
    // A setting that does not parse fails the calls that wait for it, each with its error.
    this.limits.catch(() => undefined);
  }

  /** Runs `work` as the statement's: the provider requests it makes count here. */
  within<T>(work: () => T): T {
    return running.run(this, work);
  }

  /** A request is about to go out: refused (LM003) when a cap leaves no room for it. */
  async starting(): Promise<void> {
    const limits = await this.limits;
    if (!this.exceeded && limits) {
      if (limits.maxCalls !== undefined && this.calls >= limits.maxCalls) this.exceed(`pg_llm.max_calls_per_statement (${limits.maxCalls}) is reached`);
      else if (limits.maxUsd !== undefined && this.usd >= limits.maxUsd) this.exceed(`pg_llm.max_cost_per_statement (${dollars(limits.maxUsd)}) is reached`);
      else {
        for (const { role, budget } of limits.daily) {
          const today = spentToday(role);
          if (budget.calls !== undefined && today.calls >= budget.calls) this.exceed(`role "${role}"'s daily budget of ${budget.calls} model calls is reached`);
          else if (budget.usd !== undefined && today.usd >= budget.usd) this.exceed(`role "${role}"'s daily budget of ${dollars(budget.usd)} is reached`);
          if (this.exceeded) break;
        }
      }
    }
    if (this.exceeded) throw this.exceeded;
    this.calls++;
  }

  /** A request's cost (already counted in the role's day): over a cap, the statement stops. */
  charged(usd: number): void {
    this.usd = plusDollars(this.usd, usd);
    const limits = this.known;
    if (this.exceeded || !limits) return;
    if (limits.maxUsd !== undefined && this.usd > limits.maxUsd) {
      this.exceed(`pg_llm.max_cost_per_statement (${dollars(limits.maxUsd)}) is exceeded: the statement's model calls cost ${dollars(this.usd)}`);
      return;
    }
    const over = limits.daily.find(({ role, budget }) => budget.usd !== undefined && spentToday(role).usd > budget.usd);
    if (over) this.exceed(`role "${over.role}"'s daily budget of ${dollars(over.budget.usd!)} is exceeded: ${dollars(spentToday(over.role).usd)} spent today`);
  }

  private exceed(what: string): void {
    this.exceeded = capReached(what);
    this.stop.abort();
  }
}

/** The statement whose call is making the provider request now, if any (the worker's requests have none). */
export function currentSpending(): StatementSpending | undefined {
  return running.getStore();
}
