// pg_llm's analysis and reports through the proxy, against a fake provider: the caller's query run read-only, its
// rows and plan, the model's analysis or report, the chart chosen from the result's shape, and reports kept.

import { describe, expect, it } from 'vitest';
import { pgAiSuite, shopWithModel } from '../support/pg-ai.js';

const suite = pgAiSuite();

const shop = () => shopWithModel(suite);

type Client = { query: (sql: string, values?: unknown[]) => Promise<{ rows: any[] }> };

async function report(client: Client, sql: string, content: string, options: Record<string, unknown> = {}): Promise<any> {
  suite.fake.script({ kind: 'answer', content });
  return (await client.query(`SELECT pg_llm_generate_report('llm', $1, $2) AS r`, [sql, JSON.stringify(options)])).rows[0].r;
}

const written = JSON.stringify({ title: 'Revenue by region', summary: 'The south sells more.', recommendations: ['Grow the north.', 'Keep the south.'] });

describe('pg_llm_execute_sql_with_analysis', () => {
  it("answers the rows, the plan and the model's analysis, which saw the result", async () => {
    const { reader } = await shop();
    suite.fake.script({ kind: 'answer', content: 'Two regions, the south ahead.' });
    const { rows } = await reader.query(`SELECT pg_llm_execute_sql_with_analysis('llm', 'SELECT region, count(*) AS customers FROM customers GROUP BY region ORDER BY region') AS a`);
    expect(rows[0].a).toMatchObject({
      instance_name: 'llm',
      sql: 'SELECT region, count(*) AS customers FROM customers GROUP BY region ORDER BY region',
      rows: [{ region: 'north', customers: 1 }, { region: 'south', customers: 2 }],
      row_count: 2,
      truncated: false,
      analysis: 'Two regions, the south ahead.',
      plan: expect.arrayContaining([expect.stringMatching(/Aggregate|Sort/)]),
    });
    const prompt = (suite.fake.requests.at(-1)!.body.messages as Array<{ role: string; content: string }>).find((message) => message.role === 'user')!.content;
    expect(prompt).toContain('Columns: region (text), customers (bigint)');
    expect(prompt).toContain('Result (2 of 2 rows):\n{"region":"north","customers":1}\n{"region":"south","customers":2}');
  });

  it('refuses a statement that changes data, and runs with the caller’s rights', async () => {
    const { reader, direct } = await shop();
    await expect(reader.query(`SELECT pg_llm_execute_sql_with_analysis('llm', 'DELETE FROM orders')`)).rejects.toMatchObject({ code: '38003' });
    await expect(reader.query(`SELECT pg_llm_execute_sql_with_analysis('llm', 'SELECT * FROM secrets')`)).rejects.toMatchObject({ code: '42501' });
    expect((await direct.query('SELECT count(*)::int AS n FROM orders')).rows).toEqual([{ n: 4 }]);
    expect(suite.fake.requests).toHaveLength(0);
  });
});

describe('pg_llm_generate_report', () => {
  it('a category and a number make a bar chart; the report is kept', async () => {
    const { reader, admin } = await shop();
    const answer = await report(reader, 'SELECT c.region, sum(o.total) AS revenue FROM orders o JOIN customers c ON c.id = o.customer_id GROUP BY 1 ORDER BY 1', written);
    expect(answer).toMatchObject({
      title: 'Revenue by region',
      summary: 'The south sells more.',
      recommendations: ['Grow the north.', 'Keep the south.'],
      result: { rows: [{ region: 'north', revenue: 200.5 }, { region: 'south', revenue: 342 }], row_count: 2, truncated: false },
      chart: 'bar',
      vega_lite: {
        title: 'Revenue by region',
        mark: 'bar',
        data: { values: [{ region: 'north', revenue: 200.5 }, { region: 'south', revenue: 342 }] },
        encoding: { x: { field: 'region', type: 'nominal' }, y: { field: 'revenue', type: 'quantitative' } },
      },
    });
    expect(answer.plan.length).toBeGreaterThan(0);
    const kept = await admin.query(`SELECT id, request_id, instance_name, sql, report, role_name FROM _pg_llm_catalog.pg_llm_reports`);
    expect(kept.rows).toEqual([
      { id: String(answer.report_id), request_id: answer.request_id, instance_name: 'llm', sql: expect.stringContaining('sum(o.total)'), report: expect.objectContaining({ chart: 'bar', title: 'Revenue by region' }), role_name: 'trust_user' },
    ]);
  });

  it('a time series makes a line chart, with ISO dates; the title option wins', async () => {
    const { reader } = await shop();
    const answer = await report(reader, `SELECT date_trunc('month', placed_on)::date AS month, sum(total) AS revenue FROM orders GROUP BY 1 ORDER BY 1`, written, { title: 'Monthly revenue' });
    expect(answer).toMatchObject({
      title: 'Monthly revenue',
      chart: 'line',
      vega_lite: { mark: 'line', encoding: { x: { field: 'month', type: 'temporal' }, y: { field: 'revenue', type: 'quantitative' } } },
    });
    expect(answer.result.rows).toEqual([
      { month: '2024-01-01', revenue: 120 },
      { month: '2024-02-01', revenue: 122.5 },
      { month: '2024-03-01', revenue: 300 },
    ]);
    const stamped = await report(reader, `SELECT placed_on::timestamptz AS at, total FROM orders ORDER BY 1 LIMIT 1`, 'Not JSON, just a summary.');
    expect(stamped).toMatchObject({ chart: 'line', summary: 'Not JSON, just a summary.', recommendations: [], title: 'Report' });
    expect(stamped.result.rows[0].at).toMatch(/^2024-01-05T00:00:00[+-]\d\d:\d\d$/);
  });

  it('a result with no numbers has no chart; chart_type and bad options', async () => {
    const { reader } = await shop();
    expect(await report(reader, 'SELECT name FROM customers', written)).toMatchObject({ chart: 'table', vega_lite: null });
    expect(await report(reader, 'SELECT region, count(*) FROM customers GROUP BY 1', written, { chart_type: 'area' })).toMatchObject({ chart: 'area', vega_lite: { mark: 'area' } });
    await expect(reader.query(`SELECT pg_llm_generate_report('llm', 'SELECT 1', '{"chart_type": "pie3d"}')`)).rejects.toMatchObject({ code: '22023' });
    await expect(reader.query(`SELECT pg_llm_generate_report('llm', 'SELECT 1; SELECT 2')`)).rejects.toMatchObject({ code: '38003' });
  });
});
