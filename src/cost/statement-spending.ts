// What one client statement's model calls have spent while it runs, against its caps (budgets.ts): each request to
// a model provider counts when it goes out, holding its worst case (worst-case.ts) against the statement's max cost
// until its answer tells its cost (src/providers/metrics.ts takes and settles the holds, for the statement whose
// async context the request runs in). A request that a cap leaves no room for, with what the requests in flight
// hold, is refused before it is sent; a cost that goes over a cap all the same (an answer that cost more than its
// worst case) stops the statement: the requests in flight are cancelled (`signal`), and every call of the statement
// fails with the cap's error (`exceeded`).

import { AsyncLocalStorage } from 'node:async_hooks';
import type { PgError } from '../../proxy/pg-error.js';
import { capReached, type Hold, type StatementLimits } from './budgets.js';
import { dollars, plusDollars } from './dollars.js';
import { spentToday } from './daily-spend.js';

/** What a provider request is charged to besides its payer's day: the caps of the statement (or statements) it is made for. */
export interface Spending {
  /** Resolves once the caps are known. */
  ready(): Promise<void>;
  /**
   * A request costing at most `worstUsd()` (asked only when a cap needs it) goes out: held until it ends; refused
   * (LM003, the statement stopped) when a cap leaves no room for it.
   */
  hold(worstUsd: () => number): Hold;
  /** Stops the statement for a cap reached elsewhere (its role's day): the error its calls fail with. */
  stop(what: string): PgError;
}

const running = new AsyncLocalStorage<Spending | undefined>();

export class StatementSpending implements Spending {
  calls = 0;
  usd = 0;
  /** Set once a cap is reached: what every call of the statement fails with from then on. */
  exceeded: PgError | undefined;
  /** The worst case of its requests in flight under a max cost, and how many hold it. */
  private held = { usd: 0, requests: 0 };
  private readonly stopping = new AbortController();
  private limits: Promise<StatementLimits> | undefined;
  private known: StatementLimits | undefined;

  /** Aborted once a cap is reached. */
  get signal(): AbortSignal {
    return this.stopping.signal;
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
    return spendingWithin(this, work);
  }

  async ready(): Promise<void> {
    await this.limits;
  }

  hold(worstUsd: () => number): Hold {
    const limits = this.known;
    let usd: number | undefined;
    if (!this.exceeded && limits) {
      if (limits.maxCalls !== undefined && this.calls >= limits.maxCalls) this.exceed(`pg_llm.max_calls_per_statement (${limits.maxCalls}) is reached`);
      else if (limits.maxUsd !== undefined) {
        usd = worstUsd();
        if (this.usd >= limits.maxUsd) this.exceed(`pg_llm.max_cost_per_statement (${dollars(limits.maxUsd)}) is reached`);
        else if (this.usd + this.held.usd + usd > limits.maxUsd) {
          this.exceed(
            `pg_llm.max_cost_per_statement (${dollars(limits.maxUsd)}) leaves no room for the call: the statement's model calls cost ${dollars(this.usd)}, those in flight hold ${dollars(this.held.usd)}, and the call may cost up to ${dollars(usd)}`,
          );
        }
      }
    }
    if (this.exceeded) throw this.exceeded;
    this.calls++;
    if (usd !== undefined) this.held = { usd: plusDollars(this.held.usd, usd), requests: this.held.requests + 1 };
    return (cost) => {
      // The last request to end leaves nothing held, whatever the rounding.
      if (usd !== undefined) this.held = this.held.requests === 1 ? { usd: 0, requests: 0 } : { usd: Math.max(0, this.held.usd - usd), requests: this.held.requests - 1 };
      if (cost !== undefined) this.charged(cost);
    };
  }

  stop(what: string): PgError {
    if (!this.exceeded) this.exceed(what);
    return this.exceeded!;
  }

  /** A request's cost (already counted in the role's day): over a cap, the statement stops. */
  private charged(usd: number): void {
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
    this.stopping.abort();
  }
}

/** Runs `work` with the provider requests it makes charged to `spending` (undefined: to no statement). */
export function spendingWithin<T>(spending: Spending | undefined, work: () => T): T {
  return running.run(spending, work);
}

/** What the provider request being made now is charged to, if any (the worker's requests have none). */
export function currentSpending(): Spending | undefined {
  return running.getStore();
}
