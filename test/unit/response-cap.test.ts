// Answers are read up to a cap each, and all the answers read at once up to eight caps together: many answers of a
// server that any role may point a model at cannot add up to the proxy's memory either. One role may hold a quarter
// of that, so that it cannot make the others' answers fail.

import { Response } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { capped, limitAnswersAtOnce } from '../../src/providers/response-cap.js';

const MiB = 1024 ** 2;
const SENT = Math.floor(0.95 * MiB);

/** An answer that sends `bytes` and then holds its connection open until `finish` is called. */
function heldAnswer(bytes: number): { response: Response; finish: () => void } {
  let finish = (): void => undefined;
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(new Uint8Array(bytes));
      finish = () => controller.close();
    },
  });
  return { response: new Response(body), finish };
}

/** Reads until the answer has sent its bytes, then leaves the rest (the held end) pending. */
async function readSent(response: Response, bytes: number): Promise<unknown> {
  const reader = response.body!.getReader();
  let read = 0;
  try {
    while (read < bytes) read += (await reader.read()).value!.byteLength;
    return reader;
  } catch (error) {
    return error;
  }
}

afterEach(() => limitAnswersAtOnce(128 * MiB));

describe('answers read at once', () => {
  it('past eight caps together, the answer that goes over fails with 54000; a finished answer frees its share', async () => {
    limitAnswersAtOnce(MiB);
    // Two answers each for four roles fill the eight caps, and no role goes past its quarter.
    const askers = ['a', 'a', 'b', 'b', 'c', 'c', 'd', 'd', 'e'];
    const answers = askers.map(() => heldAnswer(SENT));
    const results = [];
    for (const [i, answer] of answers.entries()) results.push(await readSent(capped(answer.response, MiB, 'embedding', askers[i]), SENT));
    expect(results.slice(0, 8).every((result) => !(result instanceof Error))).toBe(true);
    expect(results[8]).toMatchObject({ sqlstate: '54000', message: expect.stringContaining("the proxy's limit") });

    answers[0]!.finish();
    expect(await (results[0] as ReadableStreamDefaultReader<Uint8Array>).read()).toMatchObject({ done: true });
    const next = heldAnswer(SENT);
    expect(await readSent(capped(next.response, MiB, 'embedding', 'e'), SENT)).not.toBeInstanceOf(Error);
    for (const answer of [...answers.slice(1, 8), next]) answer.finish();
  });

  it("one role's answers held open take at most a quarter: its next fails with 54000, another role's does not", async () => {
    limitAnswersAtOnce(MiB);
    const held = [heldAnswer(SENT), heldAnswer(SENT), heldAnswer(SENT)];
    const results = [];
    for (const answer of held) results.push(await readSent(capped(answer.response, MiB, 'embedding', 'bob'), SENT));
    expect(results.slice(0, 2).every((result) => !(result instanceof Error))).toBe(true);
    expect(results[2]).toMatchObject({ sqlstate: '54000', message: expect.stringContaining('for this role exceed its share') });

    const alices = heldAnswer(SENT);
    expect(await readSent(capped(alices.response, MiB, 'embedding', 'alice'), SENT)).not.toBeInstanceOf(Error);
    for (const answer of [...held.slice(0, 2), alices]) answer.finish();
  });
});
