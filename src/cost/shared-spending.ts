// The spending of one provider request made for several statements at once: the embeddings that calls of several
// statements (of one role) ask for one text at a time, sent together (src/providers/embedding-batcher.ts). Each
// statement's caps hold, and are charged, its own share of the request (the part of it its texts are), and count the
// request as one of its calls. A statement its share leaves no room for stops, and its calls leave the request (whose
// texts are sent all the same, paid by the role's day); the request is refused only when no statement is left in it.

import type { Hold } from './budgets.js';
import type { Spending } from './statement-spending.js';

/** `shares`: each statement's part of the request, from 0 to 1. */
export function sharedSpending(shares: ReadonlyMap<Spending, number>): Spending {
  const statements = [...shares];
  return {
    async ready() {
      await Promise.all(statements.map(([spending]) => spending.ready()));
    },
    hold(worstUsd) {
      const holds: Array<{ hold: Hold; share: number }> = [];
      let refusal: unknown;
      for (const [spending, share] of statements) {
        try {
          holds.push({ hold: spending.hold(() => worstUsd() * share), share });
        } catch (error) {
          refusal ??= error;
        }
      }
      if (holds.length === 0 && refusal !== undefined) throw refusal;
      return (cost) => {
        for (const { hold, share } of holds) hold(cost === undefined ? undefined : cost * share);
      };
    },
    stop(what) {
      const [first] = statements.map(([spending]) => spending.stop(what));
      return first!;
    },
  };
}
