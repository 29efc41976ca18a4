// Answers are read up to a cap each, and all the answers read at once up to eight caps together: many answers of a
// server that any role may point a model at cannot add up to the proxy's memory either.

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
    const answers = Array.from({ length: 9 }, () => heldAnswer(SENT));
    const results = [];
    for (const answer of answers) results.push(await readSent(capped(answer.response, MiB, 'embedding'), SENT));
    expect(results.slice(0, 8).every((result) => !(result instanceof Error))).toBe(true);
    expect(results[8]).toMatchObject({ sqlstate: '54000', message: expect.stringContaining('being read at once') });

    answers[0]!.finish();
    expect(await (results[0] as ReadableStreamDefaultReader<Uint8Array>).read()).toMatchObject({ done: true });
    const next = heldAnswer(SENT);
    expect(await readSent(capped(next.response, MiB, 'embedding'), SENT)).not.toBeInstanceOf(Error);
    for (const answer of [...answers.slice(1, 8), next]) answer.finish();
  });
});
