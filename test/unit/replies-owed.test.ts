import { describe, expect, it } from 'vitest';
import { BackendMessage as B, FrontendMessage as F } from '../../proxy/protocol.js';
import { RepliesOwed, type ReplySink } from '../../proxy/replies-owed.js';

/** A sink that records what reached it: message type letters, then '+' when answered or '-' when skipped. */
function recorder(): ReplySink & { log: string } {
  const sink = {
    log: '',
    message: (type: number) => void (sink.log += String.fromCharCode(type)),
    complete: (skipped: boolean) => void (sink.log += skipped ? '-' : '+'),
  };
  return sink;
}

/** Delivers backend messages the way the session does: to the current sink, then updates the queue. */
function receive(owed: RepliesOwed, ...types: number[]): void {
  for (const type of types) {
    owed.current?.message(type, Buffer.alloc(0));
    owed.received(type);
  }
}

describe('RepliesOwed', () => {
  it('keeps the order of a long pipeline answered while it is still being sent', () => {
    const owed = new RepliesOwed();
    const sinks = Array.from({ length: 100 }, () => recorder());
    let answered = 0;
    const answerNext = (): void => receive(owed, answered++ % 2 === 0 ? B.ParseComplete : B.ReadyForQuery);
    // Three sent for each answered: the queue wraps around and grows while answers come.
    for (let i = 0; i < sinks.length; i++) {
      owed.sent(i % 2 === 0 ? F.Parse : F.Sync, sinks[i]);
      if (i % 3 === 2) answerNext();
    }
    while (owed.pending > 0) answerNext();
    expect(sinks.map((sink) => sink.log)).toEqual(sinks.map((_, i) => (i % 2 === 0 ? '1+' : 'Z+')));
    expect(owed.idle).toBe(true);
  });

  it("drops the Syncs a COPY FROM STDIN ignores from a queue that has wrapped around, keeping the others' order", () => {
    const owed = new RepliesOwed();
    const first = Array.from({ length: 12 }, () => recorder());
    for (const sink of first) owed.sent(F.Sync, sink);
    receive(owed, ...first.map(() => B.ReadyForQuery));
    const [copy, ignored, later, laterSync] = [recorder(), recorder(), recorder(), recorder()];
    owed.sent(F.Execute, copy);
    owed.sent(F.Sync, ignored);
    for (let i = 0; i < 10; i++) owed.sent(F.Sync, recorder());
    receive(owed, B.CopyInResponse);
    expect(ignored.log).toBe('-');
    expect(owed.pending).toBe(1);
    owed.sent(F.CopyDone);
    owed.sent(F.Parse, later);
    owed.sent(F.Sync, laterSync);
    receive(owed, B.CommandComplete, B.ParseComplete, B.ReadyForQuery);
    expect([copy.log, later.log, laterSync.log]).toEqual(['GC+', '1+', 'Z+']);
  });

  it('attributes each extended-protocol answer to its request, in order', () => {
    const owed = new RepliesOwed();
    const [parse, bind, describeIt, execute, sync] = [recorder(), recorder(), recorder(), recorder(), recorder()];
    owed.sent(F.Parse, parse);
    owed.sent(F.Bind, bind);
    owed.sent(F.Describe, describeIt);
    owed.sent(F.Execute, execute);
    expect(owed.idle).toBe(false);
    owed.sent(F.Sync, sync);
    receive(owed, B.ParseComplete, B.BindComplete, B.RowDescription, B.DataRow, B.DataRow, B.CommandComplete, B.ReadyForQuery);
    expect([parse.log, bind.log, describeIt.log, execute.log, sync.log]).toEqual(['1+', '2+', 'T+', 'DDC+', 'Z+']);
    expect(owed.idle).toBe(true);
  });

  it('after an error skips every request up to the next Sync, which still gets its ReadyForQuery', () => {
    const owed = new RepliesOwed();
    const sinks = [recorder(), recorder(), recorder(), recorder()];
    owed.sent(F.Parse, sinks[0]);
    owed.sent(F.Bind, sinks[1]);
    owed.sent(F.Execute, sinks[2]);
    owed.sent(F.Sync, sinks[3]);
    receive(owed, B.ErrorResponse, B.ReadyForQuery);
    expect(sinks.map((sink) => sink.log)).toEqual(['E+', '-', '-', 'Z+']);
  });

  it('skips requests sent after an error until a Sync is sent', async () => {
    const owed = new RepliesOwed();
    const execute = recorder();
    owed.sent(F.Execute, execute);
    receive(owed, B.ErrorResponse);
    expect(owed.skipping).toBe(true);
    const later = recorder();
    owed.sent(F.Bind, later);
    expect(later.log).toBe('-');
    const sync = recorder();
    owed.sent(F.Sync, sync);
    expect(owed.skipping).toBe(false);
    let drained = false;
    void owed.drained().then(() => (drained = true));
    receive(owed, B.ReadyForQuery);
    await Promise.resolve();
    expect([sync.log, drained]).toEqual(['Z+', true]);
  });

  it('owes nothing for a Sync the server reads as COPY data, sent before or after the COPY started', () => {
    const owed = new RepliesOwed();
    const [execute, ignoredBefore, ignoredAfter, sync] = [recorder(), recorder(), recorder(), recorder()];
    owed.sent(F.Execute, execute);
    owed.sent(F.Sync, ignoredBefore);
    receive(owed, B.CopyInResponse);
    owed.sent(F.CopyData);
    owed.sent(F.Sync, ignoredAfter);
    owed.sent(F.CopyDone);
    owed.sent(F.Sync, sync);
    receive(owed, B.CommandComplete, B.ReadyForQuery);
    expect([execute.log, ignoredBefore.log, ignoredAfter.log, sync.log]).toEqual(['GC+', '-', '-', 'Z+']);
    expect(owed.idle).toBe(true);
  });

  it('owes the Syncs a client pipelined after its CopyDone, before the COPY started', () => {
    const owed = new RepliesOwed();
    const [execute, ignored, sync] = [recorder(), recorder(), recorder()];
    owed.sent(F.Execute, execute);
    owed.sent(F.Sync, ignored);
    owed.sent(F.CopyData);
    owed.sent(F.CopyDone);
    owed.sent(F.Sync, sync);
    receive(owed, B.CopyInResponse, B.CommandComplete, B.ReadyForQuery);
    expect([execute.log, ignored.log, sync.log]).toEqual(['GC+', '-', 'Z+']);
    expect(owed.idle).toBe(true);
  });

  it('keeps a simple query owed through its errors and results until ReadyForQuery', () => {
    const owed = new RepliesOwed();
    const query = recorder();
    owed.sent(F.Query, query);
    receive(owed, B.RowDescription, B.DataRow, B.CommandComplete, B.ErrorResponse, B.ReadyForQuery);
    expect(query.log).toBe('TDCEZ+');
  });

  it('counts COPY data and Flush as no request, and a Terminate as none either', () => {
    const owed = new RepliesOwed();
    owed.sent(F.Query);
    owed.sent(F.CopyData);
    owed.sent(F.CopyDone);
    owed.sent(F.Flush);
    expect(owed.pending).toBe(1);
    owed.received(B.CopyInResponse);
    owed.received(B.CommandComplete);
    owed.received(B.ReadyForQuery);
    expect(owed.idle).toBe(true);
  });
});
