// pg_cancel_backend(pid) aimed at another session of this proxy. PostgreSQL checks the caller's privileges and
// signals that session's backend itself; but while the session's model calls run in the proxy its backend waits
// idle, where a signal does nothing, so the proxy stops those calls too when the caller is the same role (whom
// PostgreSQL always lets cancel its own sessions). A pid passed as a parameter is known only at Bind: statements
// with such calls are remembered by name until redefined or closed.

import { readBindParameter } from '../../proxy/frontend-read.js';
import type { SessionIo } from '../../proxy/interceptor.js';
import type { CancelCall } from './analyze.js';
import { MAX_TRACKED_STATEMENTS } from './tracked-statements.js';
import { BINARY_FORMAT } from './values.js';

const DECIMAL = /^\s*[+-]?\d+\s*$/;

export class BackendCancels {
  private readonly statements = new Map<string, CancelCall[]>();

  constructor(
    private readonly io: Pick<SessionIo, 'sessionsOf'>,
    private readonly user: string,
  ) {}

  get size(): number {
    return this.statements.size;
  }

  /** A simple Query: it has no parameters, so its literal pids are all there is. */
  queried(calls: CancelCall[]): void {
    for (const call of calls) if ('processId' in call) this.stop(call.processId);
  }

  /** A Parse: its calls take effect at each Bind of the statement. */
  parsed(statement: string, calls: CancelCall[]): void {
    this.statements.delete(statement);
    if (calls.length === 0) return;
    // A client naming statements afresh and never closing them must not grow this without bound; a driver's cache of
    // a few thousand statements never reaches the oldest.
    if (this.statements.size >= MAX_TRACKED_STATEMENTS) this.statements.delete(this.statements.keys().next().value!);
    this.statements.set(statement, calls);
  }

  bound(statement: string, frame: Buffer): void {
    for (const call of this.statements.get(statement) ?? []) {
      const processId = 'processId' in call ? call.processId : integerParameter(frame, call.parameter - 1);
      if (processId !== undefined) this.stop(processId);
    }
  }

  /** The calls of a statement remembered, if any. */
  of(statement: string): CancelCall[] | undefined {
    return this.statements.get(statement);
  }

  forget(statement: string): void {
    this.statements.delete(statement);
  }

  forgetAll(): void {
    this.statements.clear();
  }

  private stop(processId: number): void {
    for (const session of this.io.sessionsOf(processId)) if (session.user === this.user) session.cancelModelCalls();
  }
}

/** A Bind parameter as an integer, in text or in binary (int2, int4 or int8); undefined for NULL or anything else. */
function integerParameter(frame: Buffer, index: number): number | undefined {
  const parameter = readBindParameter(frame, index);
  const value = parameter?.value;
  if (!value) return undefined;
  if (parameter.format !== BINARY_FORMAT) {
    const text = value.toString('latin1');
    return DECIMAL.test(text) ? Number(text) : undefined;
  }
  switch (value.length) {
    case 2:
      return value.readInt16BE(0);
    case 4:
      return value.readInt32BE(0);
    case 8:
      return Number(value.readBigInt64BE(0));
  }
  return undefined;
}
