// A counting semaphore for model calls, shared fairly by askers (asker.ts): an asker holds at most its share of the
// slots, and as slots free up the askers with calls waiting take turns, one call each, each asker's own calls in
// the order they asked. First come, first served across all would let a role that queues hundreds of calls, or
// whose calls hang until their timeout, keep another role's single call waiting all that time. A cancelled call
// leaves the queue at once.

import type { Asker } from './asker.js';

interface Waiter {
  start: () => void;
}

export class CallLimit {
  private running = 0;
  private readonly held = new Map<Asker, number>();
  /** The askers with calls waiting, in the order of their turns; each one's calls in the order they asked. */
  private readonly waiting = new Map<Asker, Waiter[]>();
  private waitingCount = 0;

  /** `share`: the most slots one asker may hold; all of them unless given. */
  constructor(
    private size: number,
    private share = size,
  ) {}

  resize(size: number, share = size): void {
    this.size = size;
    this.share = share;
    this.startWaiting();
  }

  /** Calls waiting for a slot, of every asker. */
  get queued(): number {
    return this.waitingCount;
  }

  /** Calls holding a slot. */
  get active(): number {
    return this.running;
  }

  get capacity(): number {
    return this.size;
  }

  async acquire(signal: AbortSignal, asker?: Asker): Promise<() => void> {
    signal.throwIfAborted();
    if (!this.waiting.has(asker) && this.mayStart(asker)) {
      this.take(asker);
      return this.releaser(asker);
    }
    await new Promise<void>((resolve, reject) => {
      const queue = this.waiting.get(asker) ?? [];
      this.waiting.set(asker, queue);
      const onAbort = (): void => {
        queue.splice(queue.indexOf(waiter), 1);
        this.waitingCount--;
        if (queue.length === 0) this.waiting.delete(asker);
        reject(signal.reason);
      };
      const waiter: Waiter = {
        start: () => {
          signal.removeEventListener('abort', onAbort);
          resolve();
        },
      };
      signal.addEventListener('abort', onAbort, { once: true });
      queue.push(waiter);
      this.waitingCount++;
    });
    return this.releaser(asker);
  }

  private mayStart(asker: Asker): boolean {
    return this.running < this.size && (this.held.get(asker) ?? 0) < this.share;
  }

  private take(asker: Asker): void {
    this.running++;
    this.held.set(asker, (this.held.get(asker) ?? 0) + 1);
  }

  private releaser(asker: Asker): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.running--;
      const left = this.held.get(asker)! - 1;
      if (left === 0) this.held.delete(asker);
      else this.held.set(asker, left);
      this.startWaiting();
    };
  }

  private startWaiting(): void {
    for (;;) {
      const turn = [...this.waiting].find(([asker]) => this.mayStart(asker));
      if (!turn) return;
      const [asker, queue] = turn;
      // Served, the asker goes to the back of the turns.
      this.waiting.delete(asker);
      const waiter = queue.shift()!;
      if (queue.length > 0) this.waiting.set(asker, queue);
      this.waitingCount--;
      this.take(asker);
      waiter.start();
    }
  }
}
