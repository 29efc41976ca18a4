// COPY with node-postgres, which has no COPY API of its own: a submittable query, as the pg-copy-streams package
// builds on, that sends the statement, writes or collects the CopyData and settles when the server is ready again.

import type pg from 'pg';

interface Connection {
  query(text: string): void;
  sendCopyFromChunk(chunk: Buffer): void;
  endCopyFrom(): void;
}

class CopyQuery {
  private readonly received: Buffer[] = [];
  private settle!: { resolve: (out: string) => void; reject: (error: Error) => void };
  readonly done = new Promise<string>((resolve, reject) => (this.settle = { resolve, reject }));

  constructor(
    private readonly text: string,
    private readonly data: string,
  ) {}

  submit(connection: Connection): void {
    connection.query(this.text);
  }

  handleCopyInResponse(connection: Connection): void {
    connection.sendCopyFromChunk(Buffer.from(this.data));
    connection.endCopyFrom();
  }

  handleCopyData(message: { chunk: Buffer }): void {
    this.received.push(Buffer.from(message.chunk));
  }

  handleCommandComplete(): void {}

  /** node-postgres lets go of a query at its error: its ReadyForQuery is not handed on. */
  handleError(error: Error): void {
    this.settle.reject(error);
  }

  handleReadyForQuery(): void {
    this.settle.resolve(Buffer.concat(this.received).toString());
  }
}

/** Runs COPY … FROM STDIN with `data`, or COPY … TO STDOUT; answers the text the server sent. */
export function copy(client: pg.Client, text: string, data = ''): Promise<string> {
  const query = new CopyQuery(text, data);
  client.query(query as unknown as pg.QueryConfig);
  return query.done;
}
