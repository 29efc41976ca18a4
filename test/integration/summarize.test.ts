// llm_summarize, the aggregate, against a fake OpenAI on loopback: one summary per group of a GROUP BY, the groups'
// calls overlapping; DISTINCT, ORDER BY and FILTER inside the call as PostgreSQL does them; a group larger than the
// model's context map-reduced; the limits and refusals; a cancel stopping every request.

import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { configureResponseCache } from '../../src/providers/response-cache.js';
import { afterThisTest } from '../support/database.js';
import { databaseWithModel, proxyAndFakeProvider } from '../support/models.js';
import type { RecordedRequest } from '../support/fake-provider.js';
import { sendCancel } from '../support/raw-client.js';

const shared = proxyAndFakeProvider();

/** The last message of a request: the prompt with the texts. */
function prompt(request: RecordedRequest): string {
  return (request.body.messages as Array<{ content: string }>).at(-1)!.content;
}

/** Every request answered after a moment with `answer` of its prompt, so that calls overlap. */
function replyToEach(count: number, answer: (prompt: string) => string): void {
  shared.fake.script(...Array.from({ length: count }, () => ({ kind: 'reply' as const, delayMs: 10, answer: (messages: Array<{ content: string }>) => answer(messages.at(-1)!.content) })));
}

async function withReviews(config: Record<string, unknown> = {}): Promise<{ client: pg.Client; direct: pg.Client }> {
  const { client, direct } = await databaseWithModel(shared.proxy, shared.fake, 'openai', { max_retries: 0, ...config });
  shared.fake.mostAtOnce = 0;
  await client.query(`CREATE TABLE reviews (id int, customer text, body text)`);
  await client.query(`INSERT INTO reviews VALUES (1, 'ann', 'slow delivery'), (2, 'bob', 'great price'), (3, 'ann', 'broken box'), (4, 'cy', 'nice'), (5, 'bob', 'great price'), (6, 'ann', NULL)`);
  return { client, direct };
}

describe('llm_summarize', () => {
  it('answers one summary per group of a GROUP BY, one request each, the texts in the order the call asks for, then from the cache', async () => {
    configureResponseCache(100, 60);
    afterThisTest(async () => configureResponseCache(0, 3600));
    const { client, direct } = await withReviews();
    replyToEach(3, (text) => `summary of [${text.slice(text.indexOf('\n\n') + 2).replaceAll('\n\n---\n\n', '|')}]`);
    const { rows } = await client.query(`SELECT customer, llm_summarize(body, 'llm' ORDER BY id DESC) AS summary FROM reviews GROUP BY customer ORDER BY customer`);
    expect(rows).toEqual([
      { customer: 'ann', summary: 'summary of [broken box|slow delivery]' },
      { customer: 'bob', summary: 'summary of [great price|great price]' },
      { customer: 'cy', summary: 'summary of [nice]' },
    ]);
    expect(shared.fake.requests).toHaveLength(3);
    expect(shared.fake.requests[0]!.body.temperature).toBe(0);
    const audit = await direct.query(`SELECT count(*)::int AS calls FROM _pg_llm_catalog.pg_llm_audit_log WHERE event_type = 'llm_summarize'`);
    expect(audit.rows).toEqual([{ calls: 3 }]);
    // Asked again, the groups are answered from the response cache.
    const again = await client.query(`SELECT customer, llm_summarize(body, 'llm' ORDER BY id DESC) AS summary FROM reviews GROUP BY customer ORDER BY customer`);
    expect(again.rows).toEqual(rows);
    expect(shared.fake.requests).toHaveLength(3);
  });

  it('takes DISTINCT and FILTER inside the call, on the default model, and gives NULL for a group without texts', async () => {
    const { client } = await withReviews();
    await client.query(`SET pg_llm.default_model = 'llm'`);
    replyToEach(2, (text) => text);
    const { rows } = await client.query(
      `SELECT customer, llm_summarize(DISTINCT body) FILTER (WHERE body <> 'nice') AS summary FROM reviews GROUP BY customer ORDER BY customer`,
    );
    expect(rows).toEqual([
      { customer: 'ann', summary: 'Summarize these texts:\n\nbroken box\n\n---\n\nslow delivery' },
      { customer: 'bob', summary: 'Summarize these texts:\n\ngreat price' },
      { customer: 'cy', summary: null },
    ]);
    expect(shared.fake.requests).toHaveLength(2);
  });

  it('waits for the calls nested in its texts: a group with texts still to come makes no request', async () => {
    const { client } = await withReviews();
    replyToEach(4, (text) => (text.startsWith('Labels:') ? '{"label": "kind"}' : text));
    const { rows } = await client.query(
      `SELECT llm_summarize(CASE WHEN id <= 2 THEN body ELSE llm_classify(body, ARRAY['kind', 'unkind'], 'llm') END, 'llm' ORDER BY id) AS summary FROM reviews`,
    );
    expect(rows).toEqual([{ summary: 'Summarize these texts:\n\nslow delivery\n\n---\n\ngreat price\n\n---\n\nkind\n\n---\n\nkind\n\n---\n\nkind' }]);
    // Three labels (the NULL body needs none), then the one summary: none of the group before its labels were in.
    expect(shared.fake.requests).toHaveLength(4);
  });

  it('over a thousand groups runs their calls concurrently, each group once', { timeout: 120_000 }, async () => {
    const { client } = await withReviews();
    await client.query(`CREATE TABLE events AS SELECT g % 1000 AS grp, 'event ' || g AS body FROM generate_series(1, 3000) g`);
    replyToEach(1000, (text) => `${text.length}`);
    const { rows } = await client.query(`SELECT grp, llm_summarize(body, 'llm') AS summary FROM events GROUP BY grp`);
    expect(rows).toHaveLength(1000);
    expect(shared.fake.requests).toHaveLength(1000);
    expect(shared.fake.mostAtOnce).toBeGreaterThan(1);
  });

  it('map-reduces a group larger than the context window: chunks in order, each within it, then their summaries combined', async () => {
    // (2,000 - 200 - 256) tokens of four characters: 6,176 characters of texts a request.
    const { client } = await withReviews({ context_window: 2000, max_tokens: 200 });
    await client.query(`CREATE TABLE pages AS SELECT g AS id, 'page ' || g || ' ' || repeat('word ', 100) AS body FROM generate_series(1, 100) g`);
    // About 506 characters a page: 12 pages a part, 9 parts, then the request that combines them.
    replyToEach(10, (text) => (text.startsWith('Combine') ? 'the whole' : `part: ${/page (\d+)/.exec(text)![1]}`));
    const { rows } = await client.query(`SELECT llm_summarize(body, 'llm' ORDER BY id) AS summary FROM pages`);
    expect(rows).toEqual([{ summary: 'the whole' }]);
    const prompts = shared.fake.requests.map(prompt);
    const [combine, ...parts] = [prompts.at(-1)!, ...prompts.slice(0, -1)];
    for (const part of parts) expect(part.length).toBeLessThan(6176 + 100);
    // Every page in exactly one part, and the parts combined in order.
    const pages = parts.flatMap((part) => [...part.matchAll(/page (\d+) /g)].map((match) => Number(match[1])));
    expect(pages.sort((a, b) => a - b)).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
    const firstPages = parts.map((part) => `part: ${/page (\d+)/.exec(part)![1]}`);
    expect(combine).toBe(`Combine these summaries of the parts of a larger set of texts into one summary:\n\n${firstPages.sort((a, b) => Number(a.slice(6)) - Number(b.slice(6))).join('\n\n---\n\n')}`);
  });

  it("refuses a group larger than the answer budget, a statement's groups larger than eight, and rows of one group naming two models, before any request", async () => {
    const { client } = await withReviews();
    await client.query(`CREATE TABLE big AS SELECT g, repeat('x', 1024 * 1024) AS body FROM generate_series(1, 9) g`);
    await expect(client.query(`SELECT llm_summarize(body, 'llm') FROM big`)).rejects.toMatchObject({ code: '54000', message: expect.stringContaining('larger than the proxy takes at once') });
    // Ten groups of 7 MiB: each within the budget, together past what one statement hands the proxy (64 MiB).
    await client.query(`CREATE TABLE many AS SELECT g % 10 AS grp, repeat('y', 1024 * 1024) AS body FROM generate_series(1, 70) g`);
    await expect(client.query(`SELECT grp, llm_summarize(body, 'llm') FROM many GROUP BY grp`)).rejects.toMatchObject({ code: '54000', message: expect.stringContaining('the groups of one statement are larger') });
    await expect(client.query(`SELECT llm_summarize(body, CASE WHEN id = 1 THEN 'llm' ELSE 'other' END) FROM reviews`)).rejects.toMatchObject({ code: '22023' });
    expect(shared.fake.requests).toHaveLength(0);
  });

  it('is no window function, and called without the proxy says where it runs', async () => {
    const { client, direct } = await withReviews();
    await expect(client.query(`SELECT llm_summarize(body) OVER (ORDER BY id) FROM reviews`)).rejects.toMatchObject({ message: expect.stringContaining('does not support use as a window function') });
    await expect(direct.query(`SELECT llm_summarize(body) FROM reviews`)).rejects.toMatchObject({ code: '0A000', message: expect.stringContaining('runs in pg_llm proxy') });
    const described = await direct.query(`SELECT p.prokind, pg_catalog.obj_description(p.oid, 'pg_proc') AS description FROM pg_proc p WHERE proname = 'llm_summarize' ORDER BY pronargs`);
    expect(described.rows).toEqual([
      { prokind: 'a', description: expect.stringContaining('An aggregate') },
      { prokind: 'a', description: expect.stringContaining('An aggregate') },
    ]);
    expect(shared.fake.requests).toHaveLength(0);
  });
});

describe('the estimate of llm_summarize', () => {
  it('counts the requests of each group, those of a map-reduce too, as many as it then makes', async () => {
    const { client } = await withReviews({ context_window: 2000, max_tokens: 200 });
    await client.query(`CREATE TABLE pages AS SELECT g AS id, g % 2 AS book, 'page ' || g || ' ' || repeat('word ', 100) AS body FROM generate_series(1, 40) g`);
    const sql = `SELECT book, llm_summarize(body, 'llm' ORDER BY id) FROM pages GROUP BY book`;
    const [estimate] = (await client.query('SELECT * FROM pg_llm_estimate($1)', [sql])).rows;
    // Each book: 20 pages of about 508 characters, two parts of 12 and 8, then the request that combines them.
    expect(estimate).toMatchObject({ model: 'llm', calls: '6', distinct_calls: '6', output_tokens: String(6 * 200) });
    expect(shared.fake.requests).toHaveLength(0);
    replyToEach(6, (text) => (text.startsWith('Combine') ? 'the book' : 'a part'));
    expect((await client.query(sql)).rows).toHaveLength(2);
    expect(shared.fake.requests).toHaveLength(6);
  });
});

// Last: the stalls the cancelled statement did not reach stay scripted.
describe('cancel', () => {
  it("stops every group's request: 57014, each open request aborted, no more sent", async () => {
    const { client } = await withReviews();
    await client.query(`CREATE TABLE events AS SELECT g % 100 AS grp, 'event ' || g AS body FROM generate_series(1, 300) g`);
    shared.fake.script(...Array.from({ length: 100 }, () => ({ kind: 'stall' as const })));
    const query = client.query(`SELECT grp, llm_summarize(body, 'llm') FROM events GROUP BY grp`);
    await expect.poll(() => shared.fake.requests.length).toBeGreaterThan(1);
    const { processID, secretKey } = client as unknown as { processID: number; secretKey: number };
    await sendCancel(shared.proxy.port, processID, secretKey);
    await expect(query).rejects.toMatchObject({ code: '57014' });
    const sent = shared.fake.requests.length;
    expect(sent).toBeLessThan(100);
    await expect.poll(() => shared.fake.requests.every((request) => request.aborted)).toBe(true);
  });
});
