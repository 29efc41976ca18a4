// A call's requests are made as its asker's, however the SDK below reaches them: a stream's steps included, though
// whoever asks for its next event runs in a context of its own.

import { describe, expect, it } from 'vitest';
import { asAsker, currentAsker, streamAsAsker } from '../../src/providers/asker.js';

describe('streamAsAsker', () => {
  it("runs every step of the stream as the asker's, whoever asks for the next event", async () => {
    async function* requests(): AsyncIterable<string | undefined> {
      for (let step = 0; step < 3; step++) {
        await new Promise((resolve) => setImmediate(resolve));
        yield currentAsker();
      }
    }
    const events = streamAsAsker('bob', requests())[Symbol.asyncIterator]();
    const next = () => asAsker('alice', () => events.next());
    const seen: Array<string | undefined> = [];
    for (let step = await next(); !step.done; step = await next()) seen.push(step.value);
    expect(seen).toEqual(['bob', 'bob', 'bob']);
  });
});
