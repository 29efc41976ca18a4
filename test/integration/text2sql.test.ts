// pg_llm's text-to-SQL through the proxy, against a fake provider: the schema the role can see (or the caller's own
// schema_info) in the prompt, earlier question/SQL pairs as examples, the generated query checked and run read-only
// with the caller's rights and a row cap, the answer's JSON, and the pair kept for later.

import { describe, expect, it } from 'vitest';
import { pgAiSuite, shopWithModel } from '../support/pg-ai.js';
import { psql } from '../support/psql.js';
import { READER } from '../support/shop.js';

const suite = pgAiSuite();

const shop = () => shopWithModel(suite);

type Client = { query: (sql: string, values?: unknown[]) => Promise<{ rows: any[] }> };

/** pg_llm_text2sql_json's answer when the model answers `content`. */
async function text2sql(client: Client, content: string, question = 'a question', options: Record<string, unknown> = {}, more = ''): Promise<any> {
  suite.fake.script({ kind: 'answer', content });
  return (await client.query(`SELECT pg_llm_text2sql_json('llm', $1, options => $2${more}) AS j`, [question, JSON.stringify(options)])).rows[0].j;
}

function lastPrompt(): string {
  const messages = suite.fake.requests.at(-1)!.body.messages as Array<{ role: string; content: string }>;
  return messages.find((message) => message.role === 'user')!.content;
}

const REVENUE = 'SELECT c.region, sum(o.total) AS revenue, count(*) AS orders FROM orders o JOIN customers c ON c.id = o.customer_id GROUP BY c.region ORDER BY c.region';

describe('pg_llm_text2sql_json', () => {
  it('refuses generated SQL that calls functions whose effects no rollback undoes', async () => {
    const { reader } = await shop();
    for (const sql of ['SELECT pg_advisory_lock(4242)', 'SELECT pg_advisory_xact_lock(4242)', 'SELECT pg_terminate_backend(pid) FROM pg_stat_get_activity(NULL) AS a', "SELECT nextval('orders_id_seq')"]) {
      await expect(text2sql(reader, sql)).rejects.toMatchObject({ code: '38001', message: expect.stringContaining('whose effects no rollback undoes') });
    }
    const answer = await text2sql(reader, 'SELECT random() < 2 AS r, lower(region) FROM customers ORDER BY 2 LIMIT 1');
    expect(answer.execution.row_count).toBe(1);
  });

  it("runs beside a client's cursor under the name the proxy once gave the generated query's", async () => {
    const { reader } = await shop();
    await reader.query(`BEGIN; DECLARE pg_llm_generated_result CURSOR FOR SELECT 'mine' AS mine`);
    const answer = await text2sql(reader, 'SELECT lower(region) AS region FROM customers ORDER BY 1 LIMIT 1');
    expect(answer.execution.row_count).toBe(1);
    expect((await reader.query('FETCH 1 FROM pg_llm_generated_result')).rows).toEqual([{ mine: 'mine' }]);
    await reader.query('COMMIT');
  });

  it('runs the generated query read-only and answers its sql, rows, columns, plan and timings', async () => {
    const { reader } = await shop();
    const answer = await text2sql(reader, JSON.stringify({ sql: REVENUE, explanation: 'Revenue per region.' }), 'revenue per region');
    expect(answer).toMatchObject({
      instance_name: 'llm',
      model_name: 'gpt-test',
      question: 'revenue per region',
      sql: REVENUE,
      explanation: 'Revenue per region.',
      similar_queries: [],
      execution: {
        columns: [
          { name: 'region', type: 'text', category: 'nominal' },
          { name: 'revenue', type: 'numeric', category: 'quantitative' },
          { name: 'orders', type: 'bigint', category: 'quantitative' },
        ],
        rows: [
          { region: 'north', revenue: 200.5, orders: 2 },
          { region: 'south', revenue: 342, orders: 2 },
        ],
        row_count: 2,
        truncated: false,
      },
      usage: { prompt_tokens: 7, completion_tokens: 3 },
    });
    expect(answer.request_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(answer.execution.plan.some((line: string) => /Sort|Aggregate/.test(line))).toBe(true);
    expect(Object.keys(answer.timings).sort()).toEqual(['execution_ms', 'generation_ms', 'schema_ms', 'total_ms']);
    const prompt = lastPrompt();
    expect(prompt).toContain('CREATE TABLE public.orders');
    expect(prompt).toContain('Question: revenue per region');
    for (const hidden of ['secrets', 'products', 'order_items']) expect(prompt).not.toContain(hidden);
  });

  it('refuses a generated INSERT, and a SELECT that would write cannot: the transaction is read-only', async () => {
    const { reader, admin, direct } = await shop();
    await expect(text2sql(reader, "INSERT INTO orders VALUES (99, 1, '2024-01-01', 1)")).rejects.toMatchObject({ code: '38003', message: expect.stringContaining('INSERT statement, which changes data') });
    await expect(text2sql(reader, 'WITH d AS (DELETE FROM orders RETURNING 1) SELECT count(*) FROM d')).rejects.toMatchObject({ code: '38003' });
    await direct.query(`CREATE FUNCTION sneaky() RETURNS int LANGUAGE sql AS $$ INSERT INTO orders VALUES (98, 1, '2024-01-01', 1) RETURNING 1 $$`);
    await expect(text2sql(admin, 'SELECT sneaky()')).rejects.toMatchObject({ code: '38001', message: expect.stringContaining('public.sneaky(), a volatile function') });
    await expect(text2sql(admin, 'SELECT id FROM orders FOR UPDATE')).rejects.toMatchObject({ code: '25006', message: 'cannot execute SELECT FOR UPDATE in a read-only transaction' });
    await direct.query(`CREATE SEQUENCE counter`);
    await expect(text2sql(admin, `SELECT nextval('counter')`)).rejects.toMatchObject({ code: '38001' });
    expect((await direct.query('SELECT count(*)::int AS n FROM orders')).rows).toEqual([{ n: 4 }]);
  });

  it("leaves the client's transaction block as it was: writable, its settings and its work intact", async () => {
    const { admin, direct } = await shop();
    await admin.query('BEGIN');
    await admin.query(`INSERT INTO customers VALUES (4, 'Barbara', NULL, 'east')`);
    const answer = await text2sql(admin, 'SELECT name FROM customers ORDER BY id');
    expect(answer.execution.rows.map((row: { name: string }) => row.name)).toEqual(['Ada', 'Grace', 'Linus', 'Barbara']);
    expect((await admin.query('SELECT current_setting($1) AS ro, current_setting($2) AS timeout', ['transaction_read_only', 'statement_timeout'])).rows).toEqual([{ ro: 'off', timeout: '0' }]);
    await admin.query(`INSERT INTO customers VALUES (5, 'Edsger', NULL, 'east')`);
    await admin.query('COMMIT');
    expect((await direct.query('SELECT count(*)::int AS n FROM customers')).rows).toEqual([{ n: 5 }]);
  });

  it("runs with the caller's rights, caps the rows and checks its options", async () => {
    const { reader } = await shop();
    await expect(text2sql(reader, 'SELECT * FROM secrets')).rejects.toMatchObject({ code: '42501' });
    const capped = await text2sql(reader, 'SELECT id FROM orders ORDER BY id', 'q', { max_rows: 2 });
    expect(capped.execution).toMatchObject({ rows: [{ id: 10 }, { id: 11 }], row_count: 2, truncated: true });
    const unrun = await text2sql(reader, 'SELECT id FROM orders', 'q', { execute: false });
    expect(unrun.execution).toBeNull();
    await expect(reader.query(`SELECT pg_llm_text2sql_json('llm', 'q', options => '{"max_rows": 0}')`)).rejects.toMatchObject({ code: '22023', message: 'options.max_rows must be a whole number from 1 to 10000' });
    await expect(reader.query(`SELECT pg_llm_text2sql_json('llm', 'q', options => '[1]')`)).rejects.toMatchObject({ code: '22023' });
    await expect(reader.query(`SELECT pg_llm_text2sql_json('nobody', 'q')`)).rejects.toMatchObject({ code: '42704' });
    await expect(reader.query(`SELECT pg_llm_text2sql_json('llm', NULL)`)).rejects.toMatchObject({ code: '22004' });
    await expect(text2sql(reader, 'SELECT * FROM pg_roles')).rejects.toMatchObject({ code: '38001' });
    expect((await text2sql(reader, 'SELECT rolname FROM pg_roles WHERE rolname = current_user', 'q', { allow_system_tables: true })).execution.rows).toEqual([{ rolname: READER }]);
  });

  it('shows earlier pairs like the question as examples, only the role’s own, and keeps each pair', async () => {
    const { reader, admin } = await shop();
    await text2sql(reader, 'SELECT count(*) FROM orders', 'how many orders are there');
    await text2sql(reader, 'SELECT name FROM customers', 'list the customer names');
    await text2sql(reader, 'SELECT count(*) FROM orders WHERE total > 100', 'how many big orders are there');
    expect(lastPrompt()).toContain('Earlier questions and the SQL that answered them:\n-- how many orders are there\nSELECT count(*) FROM orders;\n\nQuestion: how many big orders are there');
    expect(lastPrompt()).not.toContain('customer names');
    await text2sql(reader, 'SELECT 1', 'how many orders are there now', {}, ', use_vector_search => false');
    expect(lastPrompt()).not.toContain('Earlier questions');
    await text2sql(admin, 'SELECT 1', 'how many orders are there');
    expect(lastPrompt()).not.toContain('Earlier questions');
    const stored = await admin.query(`SELECT question, sql, role_name, instance_name, request_id IS NOT NULL AS has_request FROM _pg_llm_catalog.pg_llm_queries ORDER BY id`);
    expect(stored.rows).toHaveLength(5);
    expect(stored.rows[0]).toEqual({ question: 'how many orders are there', sql: 'SELECT count(*) FROM orders', role_name: READER, instance_name: 'llm', has_request: true });
  });

  it("takes the caller's schema_info, pg_llm's JSON or plain text, instead of the catalogs", async () => {
    const { reader } = await shop();
    const schemaInfo = { tables: [{ name: 'sales', description: 'One row per sale', columns: [{ name: 'amount', type: 'numeric' }, { name: 'sold_at', type: 'date' }] }] };
    suite.fake.script({ kind: 'answer', content: 'SELECT sum(amount) FROM sales' });
    expect((await reader.query(`SELECT pg_llm_text2sql('llm', 'total sales', $1) AS sql`, [JSON.stringify(schemaInfo)])).rows).toEqual([{ sql: 'SELECT sum(amount) FROM sales' }]);
    expect(lastPrompt()).toContain('Schema:\n-- One row per sale\nCREATE TABLE sales (\n  amount numeric,\n  sold_at date\n);');
    expect(lastPrompt()).not.toContain('customers');
    suite.fake.script({ kind: 'answer', content: 'SELECT 1' });
    await reader.query(`SELECT pg_llm_text2sql('llm', 'q', 'events(id int, at timestamptz)', false)`);
    expect(lastPrompt()).toContain('Schema:\nevents(id int, at timestamptz)\n\nQuestion: q');
  });

  it('runs from a psql script, in its transaction block, as a script written for pg_llm would', async () => {
    const { name, direct } = await shop();
    suite.fake.script({ kind: 'answer', content: 'SELECT count(*) AS n FROM orders' }, { kind: 'answer', content: '```sql\nSELECT max(total) AS top FROM orders\n```' });
    const script = [
      'BEGIN;',
      `INSERT INTO orders VALUES (30, 1, '2024-07-01', 7);`,
      `SELECT pg_llm_text2sql_json('llm', 'how many orders') -> 'execution' -> 'rows';`,
      `SELECT pg_llm_text2sql('llm', 'the biggest order');`,
      'COMMIT;',
    ].join('\n');
    const result = await psql([], { port: suite.proxy.port, database: name, input: script });
    expect(result.stderr).toBe('');
    expect(result.stdout.split('\n').filter(Boolean)).toEqual(['BEGIN', 'INSERT 0 1', '[{"n": 5}]', 'SELECT max(total) AS top FROM orders', 'COMMIT']);
    expect((await direct.query('SELECT count(*)::int AS n FROM orders')).rows).toEqual([{ n: 5 }]);
  });

  it('traces the pipeline and audits the call', async () => {
    const { admin } = await shop();
    await admin.query('SET pg_llm.trace_enabled = on');
    const answer = await text2sql(admin, 'SELECT id FROM orders ORDER BY id LIMIT 1', 'first order');
    const trace = await admin.query(`SELECT step, detail FROM _pg_llm_catalog.pg_llm_trace_log WHERE request_id = $1 ORDER BY id`, [answer.request_id]);
    expect(trace.rows.map((row) => row.step)).toEqual(['schema', 'generated_sql', 'validation', 'execution']);
    expect(trace.rows[1].detail).toEqual({ sql: 'SELECT id FROM orders ORDER BY id LIMIT 1' });
    expect(trace.rows[3].detail).toMatchObject({ rows: 1, truncated: false, plan: expect.arrayContaining([expect.stringContaining('Limit')]) });
    const audit = await admin.query(`SELECT event_type, instance_name, success FROM _pg_llm_catalog.pg_llm_audit_log WHERE request_id = $1`, [answer.request_id]);
    expect(audit.rows).toEqual([{ event_type: 'text2sql', instance_name: 'llm', success: true }]);
  });
});
