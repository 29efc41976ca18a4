// What a statement's calls' arguments take in the proxy on the fast path (calls as whole output columns): the rows
// fetched and not yet sent are held within the statement's limit on arguments (--max-statement-argument-bytes), but
// each row's arguments were held more than once (the parsed call, the call's key, and the row's buffer, kept whole
// by the slices of its other columns), so that a statement took more than three times that limit. Measured as what
// this process (the proxy runs in it) holds live after a full collection, sampled while the statement runs.

import { expect, it } from 'vitest';
import { eachRow } from '../support/each-row.js';
import { peakGrowth } from '../support/held-memory.js';
import { databaseWithModel, proxyAndFakeProvider } from '../support/models.js';

const STATEMENT_LIMIT = 24 * 1024 ** 2;
const shared = proxyAndFakeProvider({ callConcurrency: 4, argumentLimits: { call: 4 * 1024 ** 2, statement: STATEMENT_LIMIT } });
const ROWS = 120;
const ARGUMENT = 1024 ** 2;

it("holds a projection's rows of arguments about once, within the statement's limit", async () => {
  const { client } = await databaseWithModel(shared.proxy, shared.fake, 'openai');
  let seen = 0;
  const growth = await peakGrowth(async () => {
    await eachRow(client, `SELECT g, pg_llm_chat('llm', repeat('x', ${ARGUMENT}) || g) AS answer FROM generate_series(1, ${ROWS}) g`, () => {
      seen++;
      // The fake provider runs in this process too, and keeps each request it is sent.
      shared.fake.requests.length = 0;
    });
  }, 100);
  expect(seen).toBe(ROWS);
  expect(growth).toBeLessThan(2 * STATEMENT_LIMIT);
}, 180_000);
