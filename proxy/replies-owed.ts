// The replies still owed to the client, and to the proxy itself: one entry per request sent upstream (Query,
// Parse, Bind, Describe, Execute, Close, Sync, FunctionCall), in the order sent, each with the sink its answer goes
// to. Backend messages are attributed to the oldest entry by the protocol's rules, including the one proxies get
// wrong: after an error in an extended-protocol message the server skips everything up to the next Sync.

import type { BodyReader } from './framer.js';
import { BackendMessage, FrontendMessage, isCopyMessage } from './protocol.js';

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
  /** Likewise of a CopyData answering the request (a COPY TO STDOUT's rows). */
  copyDataReader?(length: number): BodyReader | undefined;
}

/** What a request owed an answer is, as a code: the queue keeps codes, not an object per request. */
const enum Kind {
  None = 0,
  Query,
  Sync,
  Parse,
  Bind,
  Describe,
  Execute,
  Close,
}

/** The kind of each frontend message type that is owed an answer, by its type byte; None for the others. */
const KIND_BY_TYPE = new Uint8Array(256);
KIND_BY_TYPE[FrontendMessage.Query] = Kind.Query;
KIND_BY_TYPE[FrontendMessage.FunctionCall] = Kind.Query;
KIND_BY_TYPE[FrontendMessage.Sync] = Kind.Sync;
KIND_BY_TYPE[FrontendMessage.Parse] = Kind.Parse;
KIND_BY_TYPE[FrontendMessage.Bind] = Kind.Bind;
KIND_BY_TYPE[FrontendMessage.Describe] = Kind.Describe;
KIND_BY_TYPE[FrontendMessage.Execute] = Kind.Execute;
KIND_BY_TYPE[FrontendMessage.Close] = Kind.Close;

/** Whether a request of this kind is answered with a ReadyForQuery. */
function endsInReady(kind: Kind): boolean {
  return kind === Kind.Query || kind === Kind.Sync;
}

/**
 * The requests owed, oldest first, as a ring of parallel arrays (kind, sink, CopyDone/CopyFail messages sent before
 * it), grown by doubling: a relayed message costs no allocation.
 */
class OwedRing {
  private kinds = new Uint8Array(16);
  private sinks: Array<ReplySink | undefined> = new Array<ReplySink | undefined>(16).fill(undefined);
  private copyEndsBefore = new Float64Array(16);
  private head = 0;
  length = 0;

  push(kind: Kind, sink: ReplySink | undefined, copyEndsBefore: number): void {
    if (this.length === this.kinds.length) this.grow();
    const at = (this.head + this.length) & (this.kinds.length - 1);
    this.kinds[at] = kind;
    this.sinks[at] = sink;
    this.copyEndsBefore[at] = copyEndsBefore;
    this.length++;
  }

  /** Of the request `index` places after the oldest. */
  kind(index: number): Kind {
    return this.kinds[(this.head + index) & (this.kinds.length - 1)]! as Kind;
  }

  sink(index: number): ReplySink | undefined {
    return this.sinks[(this.head + index) & (this.kinds.length - 1)];
  }

  copyEndsBeforeOf(index: number): number {
    return this.copyEndsBefore[(this.head + index) & (this.kinds.length - 1)]!;
  }

  /** Takes the oldest request off, and returns its sink. */
  shift(): ReplySink | undefined {
    const sink = this.sinks[this.head];
    this.sinks[this.head] = undefined;
    this.head = (this.head + 1) & (this.kinds.length - 1);
    this.length--;
    return sink;
  }

  /** Keeps, of the requests after the oldest, those `keep` says to, in order. */
  filterAfterOldest(keep: (index: number) => boolean): void {
    const mask = this.kinds.length - 1;
    let kept = 1;
    for (let index = 1; index < this.length; index++) {
      if (!keep(index)) continue;
      const from = (this.head + index) & mask;
      const to = (this.head + kept) & mask;
      this.kinds[to] = this.kinds[from]!;
      this.sinks[to] = this.sinks[from];
      this.copyEndsBefore[to] = this.copyEndsBefore[from]!;
      kept++;
    }
    for (let index = kept; index < this.length; index++) this.sinks[(this.head + index) & mask] = undefined;
    this.length = kept;
  }

  private grow(): void {
    const capacity = this.kinds.length * 2;
    const kinds = new Uint8Array(capacity);
    const sinks = new Array<ReplySink | undefined>(capacity).fill(undefined);
    const copyEndsBefore = new Float64Array(capacity);
    for (let index = 0; index < this.length; index++) {
      kinds[index] = this.kind(index);
      sinks[index] = this.sink(index);
      copyEndsBefore[index] = this.copyEndsBeforeOf(index);
    }
    this.kinds = kinds;
    this.sinks = sinks;
    this.copyEndsBefore = copyEndsBefore;
    this.head = 0;
  }
}

export class RepliesOwed {
  private readonly queue = new OwedRing();
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
    const kind = KIND_BY_TYPE[type]! as Kind;
    if (kind === Kind.None) {
      if (type === FrontendMessage.CopyDone || type === FrontendMessage.CopyFail) this.copyEnded();
      if (type !== FrontendMessage.Terminate && type !== FrontendMessage.Flush) this.unsyncedBatch ||= !isCopyMessage(type);
      return;
    }
    // libpq sends a Sync right after the Execute of a COPY FROM STDIN, which the server reads as COPY data and ignores.
    if (kind === Kind.Sync && this.copyInEndsAt !== undefined) {
      sink?.complete(true);
      return;
    }
    this.unsyncedBatch = !endsInReady(kind);
    if (this.skippingUntilSync && kind !== Kind.Sync) {
      sink?.complete(true);
      return;
    }
    this.skippingUntilSync = false;
    this.queue.push(kind, sink, this.copyEndsSent);
    if (sink) this.withSinks++;
  }

  /** The sink of the request the next backend message answers; undefined for the client's. */
  get current(): ReplySink | undefined {
    return this.queue.length > 0 ? this.queue.sink(0) : undefined;
  }

  /** Updates the queue for a backend message, after it was delivered to `current` (or relayed). */
  received(type: number): void {
    if (this.queue.length === 0) return;
    const kind = this.queue.kind(0);
    switch (type) {
      case BackendMessage.ReadyForQuery:
        if (endsInReady(kind)) this.complete(false);
        return;
      case BackendMessage.ParseComplete:
        if (kind === Kind.Parse) this.complete(false);
        return;
      case BackendMessage.BindComplete:
        if (kind === Kind.Bind) this.complete(false);
        return;
      case BackendMessage.CloseComplete:
        if (kind === Kind.Close) this.complete(false);
        return;
      case BackendMessage.RowDescription:
      case BackendMessage.NoData:
        if (kind === Kind.Describe) this.complete(false);
        return;
      case BackendMessage.CommandComplete:
      case BackendMessage.PortalSuspended:
      case BackendMessage.EmptyQueryResponse:
        if (kind === Kind.Execute) this.complete(false);
        return;
      case BackendMessage.CopyInResponse:
        this.copyInStarted(this.queue.copyEndsBeforeOf(0) + 1);
        return;
      case BackendMessage.ErrorResponse:
        this.copyInEndsAt = undefined;
        if (!endsInReady(kind)) this.failBatch();
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
    return this.queue.length;
  }

  /** Some request owed is the client's own, relayed as it is: the server works for the client, not the proxy. */
  get clientRequestsOwed(): boolean {
    return this.pending > this.withSinks;
  }

  /** Requests owed that end in a ReadyForQuery (Query, Sync): walks the queue, for callers off the relaying path. */
  get pendingReadies(): number {
    let count = 0;
    for (let index = 0; index < this.queue.length; index++) if (endsInReady(this.queue.kind(index))) count++;
    return count;
  }

  /** The server reads a COPY's data, and the CopyDone or CopyFail that ends it has not been sent yet. */
  get copyingIn(): boolean {
    return this.copyInEndsAt !== undefined;
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
    const skipped: ReplySink[] = [];
    this.queue.filterAfterOldest((index) => {
      if (this.queue.kind(index) !== Kind.Sync || this.queue.copyEndsBeforeOf(index) >= endsAt) return true;
      const sink = this.queue.sink(index);
      if (sink) skipped.push(sink);
      return false;
    });
    for (const sink of skipped) {
      this.withSinks--;
      sink.complete(true);
    }
    if (this.copyEndsSent < endsAt) this.copyInEndsAt = endsAt;
  }

  private copyEnded(): void {
    this.copyEndsSent++;
    if (this.copyInEndsAt !== undefined && this.copyEndsSent >= this.copyInEndsAt) this.copyInEndsAt = undefined;
  }

  /** The extended-protocol request at the head failed: it and everything up to the next Sync are done. */
  private failBatch(): void {
    this.complete(false);
    while (this.pending > 0 && this.queue.kind(0) !== Kind.Sync) this.complete(true);
    if (this.pending === 0) this.skippingUntilSync = true;
  }

  private complete(skipped: boolean): void {
    const sink = this.queue.shift();
    if (sink) {
      this.withSinks--;
      sink.complete(skipped);
    }
    if (this.pending === 0 && this.drainWaiters.length > 0) {
      const waiters = this.drainWaiters;
      this.drainWaiters = [];
      for (const resolve of waiters) resolve();
    }
  }
}
