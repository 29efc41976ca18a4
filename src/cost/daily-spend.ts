// What each role has spent on model calls today (UTC day) through this proxy process (a login role: in all the roles
// its sessions SET), against the daily budgets the operator sets per role (--role-daily-budgets), and for the
// dashboard: requests and US dollars per role, and per role, database and model. A request counts when it goes out,
// and, under a budget in dollars, holds its worst case against the budget until its cost is known, so that requests
// in flight together cannot spend past it. Kept in memory: a restart starts the day afresh, and proxies side by side
// count apart. Bounded: a role is the cluster's (its administrators make them), and the breakdown keeps BREAKDOWN_ROWS
// rows, the rest summed under "other".

import { labelValue } from '../metrics.js';
import type { Hold } from './budgets.js';
import { dollars, plusDollars } from './dollars.js';

/** A role's daily budget: US dollars, model requests, or both. */
export interface DailyBudget {
  usd?: number;
  calls?: number;
}

export interface Spent {
  calls: number;
  usd: number;
}

export interface SpendRow extends Spent {
  role: string;
  database: string;
  model: string;
}

/**
 * Who spends: a session's role in its database, and its login role (the worker's: the owner of the table or
 * vectorizer, both). A call counts in the day of both: a login's budget binds its sessions whatever role they SET,
 * and a role's binds every session SET to it (budgets.ts).
 */
export interface Spender {
  role: string;
  database: string;
  login: string;
}

/** The budgets' key for every role without one of its own. */
export const ANY_ROLE = '*';
const BREAKDOWN_ROWS = 200;
const OTHER = 'other';

let budgets: ReadonlyMap<string, DailyBudget> = new Map();
let day = utcDay(Date.now());
const byRole = new Map<string, Spent>();
const breakdown = new Map<string, SpendRow>();
/** The dollars held today by requests in flight, by role with a budget in dollars, and how many requests hold them. */
const held = new Map<string, { usd: number; requests: number }>();
/** Told when a request in flight gives back what it held. */
const waiting = new Set<() => void>();

/** Why a request was refused; `forToday` when what the role has spent leaves no room for it, whatever ends in flight. */
export interface DayRefusal {
  refused: string;
  forToday: boolean;
}

/** The operator's budgets by role name (--role-daily-budgets). */
export function setRoleDailyBudgets(given: ReadonlyMap<string, DailyBudget>): void {
  budgets = given;
}

/** A role's budget: its own, else the one for every role; undefined when neither is set. */
export function dailyBudgetOf(role: string): DailyBudget | undefined {
  return budgets.get(role) ?? budgets.get(ANY_ROLE);
}

/** What the role has spent today. */
export function spentToday(role: string, now = Date.now()): Spent {
  turnDay(now);
  return byRole.get(role) ?? { calls: 0, usd: 0 };
}

/**
 * A request to a model is about to go out for the spender (the model named as the metrics name it): it counts as a
 * call at once, and, under a budget in dollars, holds its worst case (`worstUsd`, asked only then) until it ends.
 * Refused when a budget of the spender's roles leaves no room for it.
 */
export function holdToday(spender: Spender, model: string, worstUsd: () => number, now = Date.now()): Hold | DayRefusal {
  turnDay(now);
  const holding: string[] = [];
  let usd = 0;
  for (const role of new Set([spender.role, spender.login])) {
    const budget = dailyBudgetOf(role);
    if (!budget) continue;
    const spent = byRole.get(role) ?? { calls: 0, usd: 0 };
    const reached = budgetReached(role, budget, spent);
    if (reached) return { refused: reached, forToday: true };
    if (budget.usd === undefined) continue;
    usd = worstUsd();
    const inFlight = held.get(role)?.usd ?? 0;
    if (spent.usd + inFlight + usd > budget.usd) {
      return {
        refused: `role "${role}"'s daily budget of ${dollars(budget.usd)} leaves no room for the call: ${dollars(spent.usd)} spent today, ${dollars(inFlight)} held by calls in flight, and the call may cost up to ${dollars(usd)}`,
        forToday: spent.usd + usd > budget.usd,
      };
    }
    holding.push(role);
  }
  add(spender, model, { calls: 1, usd: 0 }, now);
  for (const role of holding) {
    const hold = held.get(role) ?? { usd: 0, requests: 0 };
    held.set(role, { usd: plusDollars(hold.usd, usd), requests: hold.requests + 1 });
  }
  const heldOn = day;
  return (cost) => {
    const ended = Date.now();
    turnDay(ended);
    if (heldOn === day) for (const role of holding) release(role, usd);
    if (cost !== undefined) add(spender, model, { calls: 0, usd: cost }, ended);
    if (holding.length > 0) for (const wake of [...waiting]) wake();
  };
}

/** Why the spender's day takes no more requests, its budget reached already; undefined while it has room. */
export function dayReached(spender: Spender, now = Date.now()): string | undefined {
  turnDay(now);
  for (const role of new Set([spender.role, spender.login])) {
    const budget = dailyBudgetOf(role);
    const reached = budget && budgetReached(role, budget, byRole.get(role) ?? { calls: 0, usd: 0 });
    if (reached) return reached;
  }
  return undefined;
}

function budgetReached(role: string, budget: DailyBudget, spent: Spent): string | undefined {
  if (budget.calls !== undefined && spent.calls >= budget.calls) return `role "${role}"'s daily budget of ${budget.calls} model calls is reached`;
  if (budget.usd !== undefined && spent.usd >= budget.usd) return `role "${role}"'s daily budget of ${dollars(budget.usd)} is reached`;
  return undefined;
}

/**
 * Resolves once a request in flight has given back what it held of a day (there may be room then), or rejects when
 * the signal aborts first.
 */
export function holdsReleased(signal: AbortSignal): Promise<void> {
  signal.throwIfAborted();
  return new Promise((resolve, reject) => {
    const stop = (): void => {
      waiting.delete(wake);
      reject(signal.reason);
    };
    const wake = (): void => {
      waiting.delete(wake);
      signal.removeEventListener('abort', stop);
      resolve();
    };
    waiting.add(wake);
    signal.addEventListener('abort', stop, { once: true });
  });
}

/** The requests waiting in holdsReleased. */
export function callsWaitingForBudget(): number {
  return waiting.size;
}

/** The UTC day of `now`, as the budgets count days. */
export function utcDay(now = Date.now()): string {
  return new Date(now).toISOString().slice(0, 10);
}

/** When the UTC day after `now`'s starts: a budget's day starts afresh then. */
export function nextUtcDay(now = Date.now()): Date {
  const date = new Date(now);
  return new Date(Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate() + 1));
}

/**
 * Requests made already, whose cost is known once they have ended (a provider batch's): counted in the spender's day
 * then, whatever its budget, as they were paid for.
 */
export function addSpent(spender: Spender, model: string, spent: Spent, now = Date.now()): void {
  add(spender, model, spent, now);
}

/** Today's spend by role, database and model, the largest first, and each budgeted role's budget beside its spend. */
export function dailySpend(now = Date.now()): { day: string; rows: SpendRow[]; budgets: Array<{ role: string; budget: DailyBudget; spent: Spent }> } {
  turnDay(now);
  const shown = [...budgets].map(([role, budget]) => ({ role, budget, spent: role === ANY_ROLE ? { calls: 0, usd: 0 } : spentToday(role, now) }));
  return { day, rows: [...breakdown.values()].sort((a, b) => b.usd - a.usd || b.calls - a.calls), budgets: shown };
}

function add(spender: Spender, model: string, amount: Spent, now: number): void {
  turnDay(now);
  for (const role of new Set([spender.role, spender.login])) {
    const total = byRole.get(role) ?? { calls: 0, usd: 0 };
    byRole.set(role, { calls: total.calls + amount.calls, usd: plusDollars(total.usd, amount.usd) });
  }
  const shown = { role: labelValue(spender.role), database: labelValue(spender.database), model: labelValue(model) };
  let key = JSON.stringify([shown.role, shown.database, shown.model]);
  if (!breakdown.has(key) && breakdown.size >= BREAKDOWN_ROWS - 1) {
    key = OTHER;
    Object.assign(shown, { role: OTHER, database: OTHER, model: OTHER });
  }
  const row = breakdown.get(key) ?? { ...shown, calls: 0, usd: 0 };
  row.calls += amount.calls;
  row.usd = plusDollars(row.usd, amount.usd);
  breakdown.set(key, row);
}

/** Gives back what a request held of the role's day; the last request to end leaves it none, whatever the rounding. */
function release(role: string, usd: number): void {
  const hold = held.get(role)!;
  if (hold.requests === 1) held.delete(role);
  else held.set(role, { usd: Math.max(0, hold.usd - usd), requests: hold.requests - 1 });
}

/** A new UTC day starts every count afresh; what requests in flight held was the old day's. */
function turnDay(now: number): void {
  const current = utcDay(now);
  if (current === day) return;
  day = current;
  byRole.clear();
  breakdown.clear();
  held.clear();
}
