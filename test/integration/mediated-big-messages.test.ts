// While the proxy works through a statement it took over (a model call may take minutes), it hands the client's next
// messages to its interception engine whole. A big one is not read then: the client waits, and its message goes once
// the statement is done, as it would have gone without one before it, as it comes (issue 12: a 300 MB Query sent
// during a slow call was read whole into the proxy's memory, and three sessions doing so held 1.5 GB).

import { once } from 'node:events';
import type net from 'node:net';
import { describe, expect, it } from 'vitest';
import { afterThisTest } from '../support/database.js';
import { heldLive } from '../support/held-memory.js';
import { databaseWithModel, proxyAndFakeProvider } from '../support/models.js';
import { RawClient, serialize } from '../support/raw-client.js';

const shared = proxyAndFakeProvider();
const MiB = 1024 ** 2;
const BIG = 64 * MiB;
const PIECE = Buffer.alloc(MiB, 'v');

type Answer = { name: string; code?: string; fields?: string[] };

/** A message of type `type` whose body is `head`, `bytes` bytes of 'v', then `tail`, written in pieces. */
class StreamedMessage {
  /** Bytes of 'v' written so far. */
  written = 0;

  constructor(
    private readonly socket: net.Socket,
    private readonly type: string,
    private readonly head: Buffer,
    private readonly bytes: number,
    private readonly tail: Buffer,
  ) {}

  /** Writes for as long as the proxy reads: stops once the socket has not drained for a while. */
  async whileRead(): Promise<void> {
    const header = Buffer.alloc(5);
    header[0] = this.type.charCodeAt(0);
    header.writeInt32BE(4 + this.head.length + this.bytes + this.tail.length, 1);
    if (!(await this.write(Buffer.concat([header, this.head]), true))) return;
    while (this.written < this.bytes && (await this.write(this.piece(), true)));
  }

  /** Writes the rest, waiting for the proxy to read it. */
  async finish(): Promise<void> {
    while (this.written < this.bytes) await this.write(this.piece(), false);
    await this.write(this.tail, false);
  }

  private piece(): Buffer {
    const piece = PIECE.subarray(0, Math.min(PIECE.length, this.bytes - this.written));
    this.written += piece.length;
    return piece;
  }

  /** False when the proxy stopped reading (only told when `bounded`). */
  private async write(bytes: Buffer, bounded: boolean): Promise<boolean> {
    if (this.socket.write(bytes)) return true;
    if (!bounded) {
      await once(this.socket, 'drain');
      return true;
    }
    return new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), 3000);
      this.socket.once('drain', () => (clearTimeout(timer), resolve(true)));
    });
  }
}

/** A session whose next model call is answered only once the returned function is called. */
async function sessionWithHeldCall(): Promise<{ raw: RawClient; answer: () => void }> {
  const { name } = await databaseWithModel(shared.proxy, shared.fake, 'openai', { timeout_ms: 120_000, max_retries: 0 });
  const raw = await RawClient.session(shared.proxy.port, { database: name });
  afterThisTest(async () => void raw.socket.destroy());
  let answer!: () => void;
  shared.fake.script({ kind: 'reply', answer: () => 'late', hold: new Promise<void>((resolve) => (answer = resolve)) });
  return { raw, answer };
}

function rows(answers: Answer[]): string[][] {
  return answers.filter((answer) => answer.name === 'dataRow').map((answer) => answer.fields!);
}

describe('a big message sent while a model call runs', () => {
  it('is not read until the call is done, then runs as relayed', async () => {
    const { raw, answer } = await sessionWithHeldCall();
    const calls = shared.fake.requests.length;
    raw.send(serialize.query(`SELECT pg_llm_chat('llm', 'hi') AS a`));
    await expect.poll(() => shared.fake.requests.length).toBe(calls + 1);
    const query = new StreamedMessage(raw.socket, 'Q', Buffer.from(`SELECT length('`), BIG, Buffer.from(`') AS n\0`));
    const before = heldLive();
    await query.whileRead();
    expect(heldLive() - before).toBeLessThan(16 * MiB);
    expect(query.written).toBeLessThan(BIG / 2);
    answer();
    await query.finish();
    const answers = [...(await raw.until('readyForQuery', 60_000)), ...(await raw.until('readyForQuery', 60_000))] as Answer[];
    expect(answers.find((message) => message.name === 'error')).toBeUndefined();
    expect(rows(answers)).toEqual([['late'], [String(BIG)]]);
  }, 120_000);

  it('behind an Execute of an LLM portal is not read until it is done, and the pipeline goes on in order', async () => {
    const { raw, answer } = await sessionWithHeldCall();
    raw.send(serialize.parse({ name: 'llm', text: `SELECT pg_llm_chat('llm', $1) AS a`, types: [] }), serialize.parse({ name: 'plain', text: 'SELECT length($1) AS n', types: [] }), serialize.sync());
    await raw.until('readyForQuery');
    const calls = shared.fake.requests.length;
    raw.send(serialize.bind({ statement: 'llm', values: ['hi'] }), serialize.execute({}));
    await expect.poll(() => shared.fake.requests.length).toBe(calls + 1);
    const names = Buffer.from('\0plain\0');
    const head = Buffer.alloc(names.length + 8);
    names.copy(head);
    head.writeInt16BE(1, names.length + 2);
    head.writeInt32BE(BIG, names.length + 4);
    const bind = new StreamedMessage(raw.socket, 'B', head, BIG, Buffer.alloc(2));
    const before = heldLive();
    await bind.whileRead();
    expect(heldLive() - before).toBeLessThan(16 * MiB);
    expect(bind.written).toBeLessThan(BIG / 2);
    answer();
    await bind.finish();
    raw.send(serialize.execute({}), serialize.sync());
    const answers = (await raw.until('readyForQuery', 60_000)) as Answer[];
    expect(answers.find((message) => message.name === 'error')).toBeUndefined();
    expect(rows(answers)).toEqual([['late'], [String(BIG)]]);
  }, 120_000);
});
