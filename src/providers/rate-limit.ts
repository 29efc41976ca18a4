// Requests and tokens per minute, as providers meter them: a budget that refills continuously up to one minute's
// worth. Callers take from it first come, first served, and wait (without failing) until there is enough; a
// cancelled caller leaves the queue at once. Token counts are known only after the answer, so a request takes an
// estimate and is corrected afterwards: spending more than estimated makes the next callers wait longer.

interface Waiter {
  amount: number;
  resolve: () => void;
  reject: (reason: unknown) => void;
  signal: AbortSignal;
  onAbort: () => void;
}

export class RateBudget {
  private available: number;
  private updatedAt: number;
  private readonly waiting: Waiter[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly perMinute: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.available = perMinute;
    this.updatedAt = now();
  }

  /** Waits for `amount` (at most a minute's worth is waited for, so one huge request still runs) and takes it. */
  async take(amount: number, signal: AbortSignal): Promise<void> {
    signal.throwIfAborted();
    this.refill();
    if (this.waiting.length === 0 && this.available >= Math.min(amount, this.perMinute)) {
      this.available -= amount;
      return;
    }
    await new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        amount,
        resolve,
        reject,
        signal,
        onAbort: () => {
          this.waiting.splice(this.waiting.indexOf(waiter), 1);
          reject(signal.reason);
          this.schedule();
        },
      };
      signal.addEventListener('abort', waiter.onAbort, { once: true });
      this.waiting.push(waiter);
      this.schedule();
    });
  }

  /** Callers waiting for their part of the budget. */
  get queued(): number {
    return this.waiting.length;
  }

  /** Whether the budget is a whole minute's worth again, with no caller waiting: as a new one would be. */
  get full(): boolean {
    this.refill();
    return this.waiting.length === 0 && this.available >= this.perMinute;
  }

  /** Corrects an earlier take by what was really spent minus what was taken. */
  adjust(difference: number): void {
    this.refill();
    this.available = Math.min(this.perMinute, this.available - difference);
    this.schedule();
  }

  private refill(): void {
    const now = this.now();
    this.available = Math.min(this.perMinute, this.available + ((now - this.updatedAt) * this.perMinute) / 60_000);
    this.updatedAt = now;
  }

  /** Starts whoever can start now, and sets a timer for when the next in line can. */
  private schedule(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.refill();
    while (this.waiting.length > 0) {
      const head = this.waiting[0]!;
      const need = Math.min(head.amount, this.perMinute);
      if (this.available < need) {
        const waitMs = ((need - this.available) * 60_000) / this.perMinute;
        this.timer = setTimeout(() => this.schedule(), Math.ceil(waitMs));
        return;
      }
      this.waiting.shift();
      this.available -= head.amount;
      head.signal.removeEventListener('abort', head.onAbort);
      head.resolve();
    }
  }
}
