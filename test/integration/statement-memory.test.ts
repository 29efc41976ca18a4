// What one statement's model answers take in the proxy: however many calls it makes, the proxy holds the answers of
// the rows in flight (the fast path of whole output columns) or about one batch of them being stored (the general
// path), not every answer until the statement ends; and a collect pass's own rows not at all. Measured as what this
// process (the proxy runs in it) holds live after a full collection, sampled while the statement runs, against the
// bytes of all the answers (or rows).

import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { eachRow } from '../support/each-row.js';
import { peakGrowth } from '../support/held-memory.js';
import { databaseWithModel, proxyAndFakeProvider } from '../support/models.js';

// Fewer calls at once than the default keep the answers being read, which any path holds, small beside the bound.
const shared = proxyAndFakeProvider({ callConcurrency: 4 });
const ROWS = 600;
const ANSWER = 256 * 1024;
const ALL_ANSWERS = ROWS * ANSWER;

async function docs(client: pg.Client, rows = ROWS): Promise<void> {
  await client.query(`CREATE TABLE docs AS SELECT g AS id, 'row ' || g AS body, NULL::text AS summary FROM generate_series(1, ${rows}) g`);
}

function paddedAnswers(): void {
  shared.fake.script(...Array.from({ length: ROWS }, () => ({ kind: 'padded' as const, bytes: ANSWER })));
}

async function summaries(direct: pg.Client): Promise<number> {
  return (await direct.query(`SELECT count(summary)::int AS n FROM docs`)).rows[0].n;
}

describe("a statement's model answers", () => {
  it('on the general path are stored a batch at a time, every row getting its own answer', async () => {
    const { client, direct } = await databaseWithModel(shared.proxy, shared.fake, 'openai');
    await docs(client);
    paddedAnswers();
    const growth = await peakGrowth(async () => {
      await client.query(`UPDATE docs SET summary = pg_llm_chat('llm', body)`);
    });
    const { rows } = await direct.query(`SELECT count(*)::int AS n FROM docs WHERE length(summary) = $1 AND left(summary, length(body) + 1) = body || '.'`, [ANSWER]);
    expect(rows).toEqual([{ n: ROWS }]);
    expect(growth).toBeLessThan(ALL_ANSWERS / 4);
  }, 180_000);

  it('on the fast path are let go of once their row is sent, rows in order', async () => {
    const { client } = await databaseWithModel(shared.proxy, shared.fake, 'openai');
    await docs(client);
    paddedAnswers();
    const seen: number[] = [];
    const wrong: number[] = [];
    const growth = await peakGrowth(async () => {
      await eachRow(client, `SELECT id, pg_llm_chat('llm', body) AS answer FROM docs ORDER BY id`, (row: { id: number; answer: string }) => {
        seen.push(row.id);
        if (row.answer.length !== ANSWER || !row.answer.startsWith(`row ${row.id}.`)) wrong.push(row.id);
      });
    });
    expect(seen).toEqual(Array.from({ length: ROWS }, (_, i) => i + 1));
    expect(wrong).toEqual([]);
    expect(growth).toBeLessThan(ALL_ANSWERS / 4);
  }, 180_000);
});

describe("a collect pass's own rows", () => {
  it('are let go unread: the proxy reads back only the calls the pass found', async () => {
    const { client } = await databaseWithModel(shared.proxy, shared.fake, 'openai');
    const rows = 8000;
    const pad = 8192;
    let seen = 0;
    const growth = await peakGrowth(async () => {
      await eachRow(client, `SELECT g, repeat('p', ${pad}) AS pad, upper(pg_llm_chat('llm', 'same')) AS a FROM generate_series(1, ${rows}) g`, (row: { a: string }) => void (row.a === 'DEFAULT ANSWER' && seen++));
    }, 100);
    expect(seen).toBe(rows);
    expect(shared.fake.requests).toHaveLength(1);
    expect(growth).toBeLessThan((rows * pad) / 4);
  }, 180_000);
});

describe("a collect pass's notices", () => {
  it('are not kept: the proxy looks only for its own', async () => {
    const { client } = await databaseWithModel(shared.proxy, shared.fake, 'openai');
    const rows = 400;
    const notice = 256 * 1024;
    await client.query(`CREATE FUNCTION noisy(g int) RETURNS text LANGUAGE plpgsql AS $$ BEGIN RAISE NOTICE '%', repeat('n', ${notice}); RETURN 'same'; END $$`);
    let found: unknown;
    const growth = await peakGrowth(async () => {
      found = (await client.query(`SELECT count(*)::int AS n FROM generate_series(1, ${rows}) g WHERE pg_llm_chat('llm', noisy(g)) IS NOT NULL`)).rows;
    }, 100);
    expect(found).toEqual([{ n: rows }]);
    expect(shared.fake.requests).toHaveLength(1);
    // Before: every notice the pass raised, decoded, until the pass was done.
    expect(growth).toBeLessThan((rows * notice) / 4);
  }, 180_000);
});

describe('a statement whose results take several batches', () => {
  it('fails as a whole when a call fails after batches were stored, and writes nothing', async () => {
    const { client, direct } = await databaseWithModel(shared.proxy, shared.fake, 'openai', { max_retries: 0 });
    await docs(client, 1100);
    shared.fake.script(...Array.from({ length: 1050 }, () => ({ kind: 'answer' as const, content: 'fine' })), { kind: 'error', status: 400, message: 'no more' });
    await expect(client.query(`UPDATE docs SET summary = pg_llm_chat('llm', body)`)).rejects.toThrow(/no more/);
    expect(await summaries(direct)).toBe(0);
    expect((await client.query('SELECT 1 AS ok')).rows).toEqual([{ ok: 1 }]);
  }, 180_000);

  it("fails with the server's error when a batch cannot be stored, and writes nothing", async () => {
    const { client, direct } = await databaseWithModel(shared.proxy, shared.fake, 'openai');
    await docs(client, 1500);
    // jsonb takes no \u0000: the first batch's store fails, and the requests after it are skipped.
    shared.fake.script({ kind: 'answer', content: 'a\u0000b' });
    await expect(client.query(`UPDATE docs SET summary = pg_llm_chat('llm', body)`)).rejects.toMatchObject({ code: '22P05' });
    expect(await summaries(direct)).toBe(0);
    expect((await client.query('SELECT 1 AS ok')).rows).toEqual([{ ok: 1 }]);
  }, 180_000);
});
