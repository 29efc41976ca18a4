// pg_ai_query's explain_query through the proxy: EXPLAIN ANALYZE runs with the caller's rights, a data-changing
// statement's effects never persist, in and outside the client's transaction block, and the client's transaction
// is as PostgreSQL would leave it afterwards, whether the statement succeeded or failed.

import { describe, expect, it } from 'vitest';
import { afterThisTest, freshDatabase } from '../support/database.js';
import { clientOf, pgAiProxy, pgAiSuite, shopDatabase } from '../support/pg-ai.js';
import type { TestProxy } from '../support/proxy.js';

const suite = pgAiSuite();
const shop = (through?: TestProxy) => shopDatabase(suite, through);

const totals = async (client: { query: (sql: string) => Promise<{ rows: Array<{ total: string }> }> }) =>
  (await client.query('SELECT total FROM orders ORDER BY id')).rows.map((row) => row.total);
const ORIGINAL = ['120.00', '80.50', '42.00', '300.00'];

describe('explain_query', () => {
  it("explains an UPDATE's plan and leaves the table as it was", async () => {
    const { admin, direct } = await shop();
    suite.fake.script({ kind: 'answer', content: 'A sequential scan updates every row.' });
    const { rows } = await admin.query(`SELECT explain_query('UPDATE orders SET total = total * 2') AS e`);
    expect(rows[0].e).toBe('A sequential scan updates every row.\n\n-- Note:\n--   The UPDATE ran for EXPLAIN ANALYZE; its changes were rolled back.');
    const prompt = (suite.fake.requests.at(-1)!.body.messages as Array<{ role: string; content: string }>).find((message) => message.role === 'user')!.content;
    expect(prompt).toContain('Query:\nUPDATE orders SET total = total * 2');
    expect(prompt).toMatch(/"Node Type": "ModifyTable",\s*"Operation": "Update"/);
    expect(prompt).toContain('"Actual Rows": 4');
    expect(prompt).toContain('"Shared Hit Blocks"');
    expect(await totals(direct)).toEqual(ORIGINAL);
    expect((await admin.query(`SHOW statement_timeout`)).rows).toEqual([{ statement_timeout: '0' }]);
  });

  it('inside a transaction block: the UPDATE is undone, the block goes on, and its own work commits', async () => {
    const { admin, direct } = await shop();
    await admin.query('BEGIN');
    await admin.query(`INSERT INTO orders VALUES (20, 2, '2024-05-01', 10)`);
    suite.fake.script({ kind: 'answer', content: 'explained' });
    // Extended protocol (a parameter), then the simple protocol.
    await admin.query('SELECT explain_query($1) AS e', ['UPDATE orders SET total = 0 WHERE customer_id = 2']);
    suite.fake.script({ kind: 'answer', content: 'explained again' });
    await admin.query(`SELECT explain_query('DELETE FROM orders')`);
    expect(await totals(admin)).toEqual([...ORIGINAL, '10.00']);
    await admin.query('COMMIT');
    expect(await totals(direct)).toEqual([...ORIGINAL, '10.00']);
  });

  it('several calls in one statement each roll back their own work', async () => {
    const { admin, direct } = await shop();
    const statements = `(VALUES ('UPDATE orders SET total = 1'), ('DELETE FROM customers'), ('INSERT INTO products VALUES (200, $$Mouse$$, 9)')) AS v(q)`;
    // A whole output column (calls computed while PostgreSQL's portal stays open), then inside an expression.
    suite.fake.script(...Array.from({ length: 6 }, () => ({ kind: 'answer' as const, content: 'explained' })));
    expect((await admin.query(`SELECT explain_query(q) AS e FROM ${statements}`)).rows).toHaveLength(3);
    expect((await admin.query(`SELECT explain_query(q) IS NOT NULL AS explained FROM ${statements}`)).rows).toEqual([{ explained: true }, { explained: true }, { explained: true }]);
    expect(await totals(direct)).toEqual(ORIGINAL);
    expect((await direct.query('SELECT (SELECT count(*) FROM customers)::int AS c, (SELECT count(*) FROM products)::int AS p')).rows).toEqual([{ c: 3, p: 1 }]);
  });

  it("runs with the caller's rights", async () => {
    const { reader, direct } = await shop();
    await expect(reader.query(`SELECT explain_query('SELECT * FROM secrets')`)).rejects.toMatchObject({ code: '42501', message: 'permission denied for table secrets' });
    await expect(reader.query(`SELECT explain_query('UPDATE orders SET total = 0')`)).rejects.toMatchObject({ code: '42501' });
    await reader.query('SELECT 1');
    expect(await totals(direct)).toEqual(ORIGINAL);
    expect(suite.fake.requests).toHaveLength(0);
  });

  it("a failure aborts the client's block as PostgreSQL would, and ROLLBACK recovers it", async () => {
    const { admin, direct } = await shop();
    await admin.query('BEGIN');
    await admin.query(`INSERT INTO orders VALUES (21, 3, '2024-06-01', 5)`);
    await expect(admin.query(`SELECT explain_query('UPDATE orders SET total = total / 0')`)).rejects.toMatchObject({ code: '22012' });
    await expect(admin.query('SELECT 1')).rejects.toMatchObject({ code: '25P02' });
    await admin.query('ROLLBACK');
    expect(await totals(admin)).toEqual(ORIGINAL);
    await admin.query('SET statement_timeout = 300');
    const started = Date.now();
    await expect(admin.query(`SELECT explain_query('SELECT count(*) FROM generate_series(1, 100000) AS a, generate_series(1, 100000) AS b')`)).rejects.toMatchObject({ code: '57014', message: 'canceling statement due to statement timeout' });
    expect(Date.now() - started).toBeLessThan(3000);
    expect((await admin.query(`SHOW statement_timeout`)).rows).toEqual([{ statement_timeout: '300ms' }]);
    expect(await totals(direct)).toEqual(ORIGINAL);
  });

  it('refuses several statements and DDL, and returns JSON with use_formatted_response', async () => {
    const { admin, direct } = await shop();
    await expect(admin.query(`SELECT explain_query('SELECT 1; DROP TABLE orders')`)).rejects.toMatchObject({ code: '38003' });
    await expect(admin.query(`SELECT explain_query('DROP TABLE orders')`)).rejects.toMatchObject({ code: '38003', hint: expect.stringContaining('SELECT, INSERT, UPDATE, DELETE or MERGE') });
    await expect(admin.query(`SELECT explain_query('SELEC 1')`)).rejects.toMatchObject({ code: '42601' });
    expect((await direct.query(`SELECT to_regclass('orders') IS NOT NULL AS kept`)).rows).toEqual([{ kept: true }]);
    const { name } = await freshDatabase();
    const formatted = await pgAiProxy(suite.fake, '[response]', 'use_formatted_response = true');
    afterThisTest(() => formatted.stop());
    const client = await clientOf(formatted, name);
    await client.query('CREATE EXTENSION pg_llm');
    suite.fake.script({ kind: 'answer', content: 'one row' });
    const answer = JSON.parse((await client.query(`SELECT explain_query('SELECT 1 AS one') AS e`)).rows[0].e);
    expect(answer).toMatchObject({ query: 'SELECT 1 AS one', explanation: 'one row', rolled_back: false, plan: [{ Plan: { 'Node Type': 'Result', 'Actual Rows': 1 } }] });
  });
});
