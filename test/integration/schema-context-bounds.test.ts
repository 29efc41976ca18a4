// The schema shown to a model is bounded, whatever another role wrote into the catalogs it can read (review 4,
// finding 3): any role can COMMENT its own table with 150 MB and grant SELECT on it to PUBLIC.

import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { ROLES } from '../support/cluster.js';
import { afterThisTest } from '../support/database.js';
import { databaseWithModel, proxyAndFakeProvider } from '../support/models.js';
import { connection } from '../support/proxy.js';

const shared = proxyAndFakeProvider();
const MiB = 1024 ** 2;

describe('schema context bounds', () => {
  it("a 150 MB table comment is neither loaded whole into the proxy nor sent whole in another session's prompt", async () => {
    const { client, name, direct } = await databaseWithModel(shared.proxy, shared.fake, 'openai', { max_retries: 0 });
    await direct.query(`CREATE TABLE big_comment (id int)`);
    await direct.query(`GRANT SELECT ON big_comment TO PUBLIC`);
    await direct.query(`DO $$ BEGIN EXECUTE format('COMMENT ON TABLE big_comment IS %L', repeat('lorem ipsum ', 12500000)); END $$`);
    const heapBefore = process.memoryUsage().heapUsed;
    let heapPeak = heapBefore;
    const sampler = setInterval(() => (heapPeak = Math.max(heapPeak, process.memoryUsage().heapUsed)), 5);
    const sessions = [client];
    for (let i = 0; i < 2; i++) {
      const other = new pg.Client(connection(shared.proxy.port, 'trust', name));
      await other.connect();
      afterThisTest(() => other.end());
      sessions.push(other);
    }
    const outcomes: unknown[] = [];
    try {
      for (const session of sessions) {
        shared.fake.script({ kind: 'answer', content: '{"sql": "SELECT 1 AS one"}' });
        outcomes.push(await session.query(`SELECT pg_llm_text2sql_json('llm', 'how many?') AS j`).then(() => 'ok', (error: { message: string }) => error.message));
      }
    } finally {
      clearInterval(sampler);
    }
    expect(outcomes).toEqual(['ok', 'ok', 'ok']);
    // The comment is 150 MB, held as 300 MB of UTF-16 in a JavaScript string: the bound is far below one copy of it.
    expect(heapPeak - heapBefore).toBeLessThan(100 * MiB);
    const prompt = JSON.stringify(shared.fake.requests.at(-1)?.body ?? {});
    // The schema's budget is 30,000 characters; the rest of the prompt is the instructions and the question.
    expect(prompt.length).toBeLessThan(60_000);
    expect(prompt.includes('big_comment') && prompt.includes('lorem ipsum')).toBe(true);
  }, 180_000);

  it('a table wider than the budget is shown cut to the budget, not whole', async () => {
    const { client, direct } = await databaseWithModel(shared.proxy, shared.fake, 'openai', { max_retries: 0 });
    // 1,000 columns with 200-character comments: about 230,000 characters of DDL for one table.
    const columns = Array.from({ length: 1000 }, (_, i) => `c${i} int`).join(', ');
    await direct.query(`CREATE TABLE wide (${columns})`);
    await direct.query(`DO $$ BEGIN FOR i IN 0..999 LOOP EXECUTE format('COMMENT ON COLUMN wide.c%s IS %L', i, repeat('w', 200)); END LOOP; END $$`);
    await direct.query(`GRANT SELECT ON wide TO PUBLIC`);
    shared.fake.script({ kind: 'answer', content: '{"sql": "SELECT 1 AS one"}' });
    await client.query(`SELECT pg_llm_text2sql_json('llm', 'what is in wide?') AS j`);
    const prompt = JSON.stringify(shared.fake.requests.at(-1)?.body ?? {});
    expect(prompt.length).toBeLessThan(60_000);
    expect(['CREATE TABLE public.wide', 'c0 integer', 'c999 integer'].map((text) => prompt.includes(text))).toEqual([true, true, false]);
  }, 120_000);

  it("another role's table held locked holds up no one's schema: its size is read without taking a lock", async () => {
    const { name, direct } = await databaseWithModel(shared.proxy, shared.fake, 'openai', { max_retries: 0 });
    const bob = ROLES.md5.user;
    await direct.query(`CREATE TABLE held (id int); INSERT INTO held SELECT generate_series(1, 1000); ANALYZE held;
                        ALTER TABLE held OWNER TO ${bob}; GRANT SELECT ON held TO PUBLIC`);
    const holder = new pg.Client(connection(shared.proxy.port, 'md5', name));
    await holder.connect();
    afterThisTest(() => holder.end());
    await holder.query('BEGIN; LOCK TABLE held IN ACCESS EXCLUSIVE MODE');
    const reader = new pg.Client(connection(shared.proxy.port, 'trust', name));
    await reader.connect();
    afterThisTest(() => reader.end());
    shared.fake.script({ kind: 'answer', content: '{"sql": "SELECT 1 AS one"}' });
    const answered = reader.query(`SELECT pg_llm_text2sql('llm', 'how many?') AS sql`).then(() => 'answered', (error: { message: string }) => error.message);
    const outcome = await Promise.race([answered, new Promise((resolve) => setTimeout(() => resolve('still waiting after 10 s'), 10_000))]);
    await holder.query('ROLLBACK');
    expect(outcome).toBe('answered');
    const held = JSON.stringify(shared.fake.requests.at(-1)?.body ?? {});
    expect(held).toContain('held');
  }, 60_000);
});
