// Which of the client's statements a CancelRequest is for. PostgreSQL cancels the statement its backend runs when
// the request comes, and nothing when it is idle. Through the proxy, a statement with LLM calls may be waiting for the
// parser, or between two of the proxy's upstream round trips, when the cancel comes: the upstream has nothing to
// cancel then, so the cancel is kept for that statement and stops its model calls when they start. It never reaches
// a statement taken up after the one it was for.

export class CancelTargets {
  /** Query and Execute messages queued for the engine, and of them taken up so far. */
  private queued = 0;
  private started = 0;
  private running = false;
  private cancelled: number | undefined;

  arrived(): void {
    this.queued += 1;
  }

  /** A statement is taken up; true when the client cancelled it already, while it waited. */
  start(): boolean {
    this.started += 1;
    this.running = true;
    return this.cancelled === this.started;
  }

  finish(): void {
    this.running = false;
  }

  /**
   * A CancelRequest: true when it is for the statement running now. None is its target while the server runs a
   * statement the client sent before (a pipelined one): the server's own cancel is for that one, as direct.
   */
  cancel(serverRunsClientStatement: boolean): boolean {
    if (serverRunsClientStatement) return false;
    if (this.running) this.cancelled = this.started;
    else if (this.queued > this.started) this.cancelled = this.started + 1;
    return this.running;
  }
}
