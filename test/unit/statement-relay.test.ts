// A statement relayed as it comes, which the interceptor then refuses, must reach the server malformed whatever the
// client sent: the server refuses it before it parses or runs any of it (review P: a Parse whose parameter count the
// relay toggled from 65535 to 0 became well formed, and ran).

import { describe, expect, it } from 'vitest';
import { PgError } from '../../proxy/pg-error.js';
import { FrontendMessage } from '../../proxy/protocol.js';
import { PacedWatch } from '../../proxy/paced-watch.js';
import { StatementRelay } from '../../proxy/statement-relay.js';

const REFUSE = { read() {}, end: () => new PgError('54000', 'refused') };
const LET_RUN = { read() {}, end: () => undefined };

/** The message relayed for `body` (read in pieces of `piece` bytes), and the error it was refused with, if any. */
async function relay(type: number, body: Buffer, watch: typeof REFUSE | typeof LET_RUN, piece = 7): Promise<{ sent: Buffer; refused: boolean }> {
  const written: Buffer[] = [];
  const paced = new PacedWatch(watch, () => {});
  const relayed = new StatementRelay(type, body.length + 4, paced, (bytes) => written.push(Buffer.from(bytes)), 64);
  for (let at = 0; at < body.length; at += piece) relayed.read(body.subarray(at, at + piece));
  relayed.end();
  if (!relayed.judged) await new Promise<void>((resolve) => relayed.afterJudging(resolve));
  return { sent: Buffer.concat(written), refused: relayed.refusal !== undefined };
}

/** Whether the server reads the Parse as well formed: name, text, a count and exactly that many types. */
function wellFormedParse(message: Buffer): boolean {
  const nameEnd = message.indexOf(0, 5);
  const textEnd = nameEnd < 0 ? -1 : message.indexOf(0, nameEnd + 1);
  if (textEnd < 0 || textEnd + 3 > message.length) return false;
  return message.length === textEnd + 3 + 4 * message.readUInt16BE(textEnd + 1);
}

function parseBody(count: number, types: number): Buffer {
  const parameters = Buffer.alloc(2 + 4 * types, 0x19);
  parameters.writeUInt16BE(count, 0);
  return Buffer.concat([Buffer.from("s\0SELECT pg_llm_chat('m', 'x')\0"), parameters]);
}

describe('a statement relayed as it comes and refused', () => {
  it.each([
    [0xffff, 0],
    [0, 0xffff],
    [1, 1],
    [0, 0],
    [2, 1],
    [1, 2],
    [0xffff, 0xffff],
    [0xfffe, 0xffff],
  ])('reaches the server a malformed Parse: count %i with %i types', async (count, types) => {
    const body = parseBody(count, types);
    const { sent, refused } = await relay(FrontendMessage.Parse, body, REFUSE, 4093);
    expect(refused).toBe(true);
    expect(sent.length).toBe(body.length + 5);
    expect(wellFormedParse(sent)).toBe(false);
    expect(wellFormedParse((await relay(FrontendMessage.Parse, body, LET_RUN)).sent)).toBe(count === types);
  });

  it('reaches the server a malformed Query, and one let run as the client sent it', async () => {
    const body = Buffer.from("SELECT pg_llm_chat('m', 'x')\0");
    const { sent } = await relay(FrontendMessage.Query, body, REFUSE);
    expect(sent.indexOf(0, 5)).toBeLessThan(sent.length - 1);
    expect((await relay(FrontendMessage.Query, body, LET_RUN)).sent.subarray(5)).toEqual(body);
  });
});
