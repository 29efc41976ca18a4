// The replies still owed to the client, and to the proxy itself: one entry per request sent upstream (Query,
// Parse, Bind, Describe, Execute, Close, Sync, FunctionCall), in the order sent, each with the sink its answer goes
// to. Backend messages are attributed to the oldest entry by the protocol's rules, including the one proxies get
// wrong: after an error in an extended-protocol message the server skips everything up to the next Sync.

import type { BodyReader } from './framer.js';
import { BackendMessage, FrontendMessage } from './protocol.js';

/** Where the answer to one request goes. Requests without a sink are the client's, relayed as they come. */
export interface ReplySink {
  /** A backend message answering the request, or a notice raised while it ran. */
  message(type: number, frame: Buffer): void;
  /** The request is answered; `skipped` when the server ignored it after an earlier error, or never will answer. */
  complete(skipped: boolean): void;
  /**
   * Asked of a DataRow answering the request once its length field (body + 4) is in: a reader that takes the row as
   * it comes (and may leave some or all of it unread), or undefined to get it whole through message().
   */
  dataRowReader?(length: number): BodyReader | undefined;
}

type RequestKind = 'query' | 'sync' | 'parse' | 'bind' | 'describe' | 'execute' | 'close';

interface Owed {
  kind: RequestKind;
  sink: ReplySink | undefined;
  /** CopyDone and CopyFail messages the client had sent before this request. */
  copyEndsBefore: number;
}

const KIND_BY_TYPE = new Map<number, RequestKind>([
  [FrontendMessage.Query, 'query'],
  [FrontendMessage.FunctionCall, 'query'],
  [FrontendMessage.Sync, 'sync'],
  [FrontendMessage.Parse, 'parse'],
  [FrontendMessage.Bind, 'bind'],
  [FrontendMessage.Describe, 'describe'],
  [FrontendMessage.Execute, 'execute'],
  [FrontendMessage.Close, 'close'],
]);

export class RepliesOwed {
  private queue: Owed[] = [];
  private head = 0;
  /** The server is ignoring everything up to a Sync that has not been sent yet. */
  private skippingUntilSync = false;
  /** Extended-protocol messages sent since the last Sync: the client is mid-batch even if nothing is owed. */
  private unsyncedBatch = false;
  private drainWaiters: Array<() => void> = [];
  /** Requests owed with a sink of their own: while there are any, answers must be attributed one by one. */
  private withSinks = 0;
  /** CopyDone and CopyFail messages sent so far: a COPY FROM STDIN ends at the first one after its request. */
  private copyEndsSent = 0;
  /** While the server reads a COPY's data: until this many CopyDone/CopyFail are sent, it ignores every Sync. */
  private copyInEndsAt: number | undefined;

  /** Accounts for a message sent upstream; `sink` receives its answer (none: relayed to the client). */
  sent(type: number, sink?: ReplySink): void {
    const kind = KIND_BY_TYPE.get(type);
    if (kind === undefined) {
      if (type === FrontendMessage.CopyDone || type === FrontendMessage.CopyFail) this.copyEnded();
      if (type !== FrontendMessage.Terminate && type !== FrontendMessage.Flush) this.unsyncedBatch ||= !isCopyMessage(type);
      return;
    }
    // libpq sends a Sync right after the Execute of a COPY FROM STDIN, which the server reads as COPY data and ignores.
    if (kind === 'sync' && this.copyInEndsAt !== undefined) {
      sink?.complete(true);
      return;
    }
    this.unsyncedBatch = kind !== 'sync' && kind !== 'query';
    if (this.skippingUntilSync && kind !== 'sync') {
      sink?.complete(true);
      return;
    }
    this.skippingUntilSync = false;
    this.queue.push({ kind, sink, copyEndsBefore: this.copyEndsSent });
    if (sink) this.withSinks++;
  }

  /** The sink of the request the next backend message answers; undefined for the client's. */
  get current(): ReplySink | undefined {
    return this.queue[this.head]?.sink;
  }

  /** Updates the queue for a backend message, after it was delivered to `current` (or relayed). */
  received(type: number): void {
    const owed = this.queue[this.head];
    if (owed === undefined) return;
    switch (type) {
      case BackendMessage.ReadyForQuery:
        if (owed.kind === 'query' || owed.kind === 'sync') this.complete(false);
        return;
      case BackendMessage.ParseComplete:
        if (owed.kind === 'parse') this.complete(false);
        return;
      case BackendMessage.BindComplete:
        if (owed.kind === 'bind') this.complete(false);
        return;
      case BackendMessage.CloseComplete:
        if (owed.kind === 'close') this.complete(false);
        return;
      case BackendMessage.RowDescription:
      case BackendMessage.NoData:
        if (owed.kind === 'describe') this.complete(false);
        return;
      case BackendMessage.CommandComplete:
      case BackendMessage.PortalSuspended:
      case BackendMessage.EmptyQueryResponse:
        if (owed.kind === 'execute') this.complete(false);
        return;
      case BackendMessage.CopyInResponse:
        this.copyInStarted(owed.copyEndsBefore + 1);
        return;
      case BackendMessage.ErrorResponse:
        this.copyInEndsAt = undefined;
        if (owed.kind !== 'query' && owed.kind !== 'sync') this.failBatch();
        return;
    }
  }

  /** Nothing owed and no batch left open: the session may be closed, or spoken to by the proxy. */
  get idle(): boolean {
    return this.pending === 0 && !this.unsyncedBatch;
  }

  /** Some request owed belongs to the proxy itself (or another sink than the client). */
  get hasSinks(): boolean {
    return this.withSinks > 0;
  }

  get pending(): number {
    return this.queue.length - this.head;
  }

  /** Some request owed is the client's own, relayed as it is: the server works for the client, not the proxy. */
  get clientRequestsOwed(): boolean {
    return this.pending > this.withSinks;
  }

  /** Requests owed that end in a ReadyForQuery (Query, Sync): walks the queue, for callers off the relaying path. */
  get pendingReadies(): number {
    let count = 0;
    for (let index = this.head; index < this.queue.length; index++) {
      const kind = this.queue[index]!.kind;
      if (kind === 'query' || kind === 'sync') count++;
    }
    return count;
  }

  /** After an error in an extended-protocol message, until a Sync is sent, the server ignores every message. */
  get skipping(): boolean {
    return this.skippingUntilSync;
  }

  /** Resolves once every request sent so far is answered. */
  drained(): Promise<void> {
    if (this.pending === 0) return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  /** The upstream is gone: nothing owed will be answered. */
  abandon(): void {
    while (this.pending > 0) this.complete(true);
  }

  /**
   * The request at the head started a COPY FROM STDIN: the server ignores each Sync until the client's CopyDone or
   * CopyFail (number `endsAt`), so those already sent are not owed an answer, nor those the client sends until then.
   */
  private copyInStarted(endsAt: number): void {
    const answered = this.queue.slice(this.head + 1).filter((owed) => {
      if (owed.kind !== 'sync' || owed.copyEndsBefore >= endsAt) return true;
      if (owed.sink) {
        this.withSinks--;
        owed.sink.complete(true);
      }
      return false;
    });
    this.queue = this.queue.slice(0, this.head + 1).concat(answered);
    if (this.copyEndsSent < endsAt) this.copyInEndsAt = endsAt;
  }

  private copyEnded(): void {
    this.copyEndsSent++;
    if (this.copyInEndsAt !== undefined && this.copyEndsSent >= this.copyInEndsAt) this.copyInEndsAt = undefined;
  }

  /** The extended-protocol request at the head failed: it and everything up to the next Sync are done. */
  private failBatch(): void {
    this.complete(false);
    while (this.pending > 0 && this.queue[this.head]!.kind !== 'sync') this.complete(true);
    if (this.pending === 0) this.skippingUntilSync = true;
  }

  private complete(skipped: boolean): void {
    const owed = this.queue[this.head]!;
    this.queue[this.head++] = undefined as unknown as Owed;
    if (this.head === this.queue.length) {
      this.queue.length = 0;
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    if (owed.sink) {
      this.withSinks--;
      owed.sink.complete(skipped);
    }
    if (this.pending === 0 && this.drainWaiters.length > 0) {
      const waiters = this.drainWaiters;
      this.drainWaiters = [];
      for (const resolve of waiters) resolve();
    }
  }
}

function isCopyMessage(type: number): boolean {
  return type === FrontendMessage.CopyData || type === FrontendMessage.CopyDone || type === FrontendMessage.CopyFail;
}
