// A streamed call inside a statement (count(*) over it, a join) is not a whole output column: its rows are kept until
// the call is done, then stored for the statement's next pass as one JSON value. A mock model echoing a prompt of
// two million words (which any role may register) made that many rows, stringified at once, and every session of the
// proxy waited for them. At most 250,000 are kept (54000 past that, the session going on); selected as they are,
// rows go to the client as they come and have no such bound (set-row-turns.test.ts).

import type pg from 'pg';
import { describe, expect, it } from 'vitest';
import { databaseWithModel, proxyAndFakeProvider } from '../support/models.js';

/** A prompt of this many words streams back as as many chunks, then a final row. */
const WORDS_AT_THE_BOUND = 250_000 - 1;

const shared = proxyAndFakeProvider();

const counted = async (client: pg.Client, words: number) =>
  (await client.query(`SELECT count(*)::int AS n FROM pg_llm_chat_stream('llm', repeat('a ', ${words}))`)).rows[0].n;

describe('the rows of a streamed call kept inside a statement', () => {
  it('are at most 250,000: one more fails with 54000 and a hint, and the session goes on', async () => {
    // The mock model 'llm' streams the prompt back a word a chunk.
    const { client } = await databaseWithModel(shared.proxy, shared.fake, 'mock', { mock_mode: 'echo' });
    await expect(counted(client, WORDS_AT_THE_BOUND + 1)).rejects.toMatchObject({
      code: '54000',
      message: expect.stringContaining('at most 250000 rows'),
      hint: expect.stringContaining('SELECT * FROM pg_llm_chat_stream'),
    });
    expect(await counted(client, WORDS_AT_THE_BOUND)).toBe(250_000);
  }, 120_000);
});
