// The response cache bounds each asker's share in entries as in bytes (a quarter), so one role that asks its own
// model (a server of its own answering at once) many short prompts does not push another role's answers out: the
// other does not pay its provider again, nor learns the first from its own entries' going how many it asked.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configureResponseCache } from '../../src/providers/response-cache.js';
import { freshDatabase } from '../support/database.js';
import { startFakeProvider, type FakeProvider } from '../support/fake-provider.js';
import { clientOf, pgAiSuite } from '../support/pg-ai.js';

const suite = pgAiSuite();
let attackerServer: FakeProvider;
beforeAll(async () => {
  attackerServer = await startFakeProvider();
});
afterAll(() => attackerServer.close());

const ENTRIES = 8;

describe("one role's cached answers", () => {
  it("are not pushed out of the response cache by another role's many small ones", async () => {
    configureResponseCache(ENTRIES, 3600);
    try {
      const { name } = await freshDatabase();
      const owner = await clientOf(suite.proxy, name);
      await owner.query('CREATE EXTENSION pg_llm');
      const other = await clientOf(suite.proxy, name, 'trust');
      await owner.query(`SELECT pg_llm_add_model(false, 'openai_compatible', 'ours', NULL, $1)`, [JSON.stringify({ model_name: 'gpt-test', base_url: suite.fake.baseUrl, max_retries: 0 })]);
      await other.query(`SELECT pg_llm_add_model(false, 'openai_compatible', 'flood', NULL, $1)`, [JSON.stringify({ model_name: 'f', base_url: attackerServer.baseUrl, max_retries: 0 })]);

      suite.fake.script({ kind: 'answer', content: 'the expensive answer' });
      await owner.query(`SELECT pg_llm_chat_json('ours', 'an expensive question', '{"temperature": 0}')`);
      for (let i = 0; i < ENTRIES; i++) {
        attackerServer.script({ kind: 'answer', content: 'x' });
        await other.query(`SELECT pg_llm_chat_json('flood', $1, '{"temperature": 0}')`, [`filler ${i}`]);
      }
      suite.fake.script({ kind: 'answer', content: 'asked again' });
      const again = (await owner.query(`SELECT pg_llm_chat_json('ours', 'an expensive question', '{"temperature": 0}') AS a`)).rows[0].a;
      expect(again).toMatchObject({ response: 'the expensive answer', cached: true });
    } finally {
      configureResponseCache(0, 3600);
    }
  });
});
