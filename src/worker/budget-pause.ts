// The worker's model calls are made for the owner of its tables and vectorizers, and count against that role's daily
// budget (src/cost/daily-spend.ts). Once one is refused because the day's spend leaves no room for it, the worker
// takes no more of the owner's work until the next UTC day: the rest waits in its queues, without a claim, a request
// or an attempt spent on each.

import type { Logger } from 'pino';
import type { PgError } from '../../proxy/pg-error.js';
import { utcDay } from '../cost/daily-spend.js';

export class BudgetPause {
  private day: string | undefined;

  constructor(private readonly log: Logger) {}

  /** Whether the owner's work waits for the next UTC day. */
  get paused(): boolean {
    return this.day === utcDay();
  }

  /** The owner's work waits for the next UTC day, as the refusal of a call for its budget says (logged once a day). */
  pause(refusal: PgError): void {
    if (!this.paused) this.log.warn({ err: refusal.message }, "llm.call jobs and vectorizers wait for the next UTC day: their owner's daily budget leaves no room for their model calls");
    this.day = utcDay();
  }
}
