// US dollars as the proxy's messages show them (cents from a dollar up, three significant digits below), and as it
// adds them up.

import { PgError } from '../../proxy/pg-error.js';

export function dollars(usd: number): string {
  if (usd === 0) return '$0';
  return usd >= 1 ? `$${usd.toFixed(2)}` : `$${Number(usd.toPrecision(3))}`;
}

/**
 * A sum of US dollars with one more amount: a cost is a finite number of dollars, 0 or more (metrics.ts prices
 * none other), and a sum stays finite, so that no comparison with a budget is ever false for want of a number.
 */
export function plusDollars(sum: number, usd: number): number {
  if (!(Number.isFinite(usd) && usd >= 0)) throw new PgError('XX000', `a model call's cost of ${usd} US dollars is not a cost`);
  return Math.min(sum + usd, Number.MAX_VALUE);
}
