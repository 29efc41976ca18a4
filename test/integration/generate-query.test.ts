// pg_ai_query's generate_query through the proxy, against a fake provider that answers SQL in every way models do
// (JSON, markdown fences, prose around it) and sometimes garbage, several statements, DDL or system-catalog reads:
// what reaches the model (the schema the role can see, nothing else), what comes back, and what is refused.

import { describe, expect, it } from 'vitest';
import { afterThisTest } from '../support/database.js';
import { DEFAULT_KEY, pgAiProxy, pgAiSuite, shopDatabase } from '../support/pg-ai.js';
import type { TestProxy } from '../support/proxy.js';
import { READER } from '../support/shop.js';

const suite = pgAiSuite();
const shop = (through?: TestProxy) => shopDatabase(suite, through);

/** generate_query's answer to `request` when the model answers `content`. */
async function generated(client: { query: (sql: string, values?: unknown[]) => Promise<{ rows: any[] }> }, content: string, request = 'a question'): Promise<string> {
  suite.fake.script({ kind: 'answer', content });
  return (await client.query('SELECT generate_query($1) AS sql', [request])).rows[0].sql;
}

/** The schema part of the last prompt the model got. */
function lastPrompt(): string {
  const messages = suite.fake.requests.at(-1)!.body.messages as Array<{ role: string; content: string }>;
  return messages.find((message) => message.role === 'user')!.content;
}

describe('generate_query', () => {
  it("shows the model the tables the role can read, with keys, foreign keys and comments, and adds the LIMIT", async () => {
    const { reader } = await shop();
    const sql = await generated(reader, '```sql\nSELECT c.name, count(*) AS orders FROM customers c JOIN orders o ON o.customer_id = c.id GROUP BY c.name\n```', 'orders per customer');
    expect(sql).toBe(
      'SELECT c.name, count(*) AS orders FROM customers c JOIN orders o ON o.customer_id = c.id GROUP BY c.name LIMIT 1000\n\n-- Note:\n--   LIMIT 1000 was added ([query] enforce_limit).',
    );
    const request = suite.fake.requests.at(-1)!;
    expect(request.authorization).toBe(`Bearer ${DEFAULT_KEY}`);
    const prompt = lastPrompt();
    expect(prompt).toContain('Request: orders per customer');
    expect(prompt).toContain('-- base table public.customers, about 3 rows: People who buy from the shop');
    expect(prompt).toContain("  region text NOT NULL /* Sales region */");
    expect(prompt).toContain('  email character varying(200)');
    expect(prompt).toContain('  FOREIGN KEY (customer_id) REFERENCES public.customers (id)');
    expect(prompt).toContain('  PRIMARY KEY (id)');
    for (const hidden of ['secrets', 'payroll', 'products', 'order_items', '_pg_llm_catalog', 'pg_llm_audit_log']) expect(prompt).not.toContain(hidden);
    expect((request.body.messages as Array<{ role: string; content: string }>)[0]).toMatchObject({ role: 'system', content: expect.stringContaining('"sql"') });
  });

  it('shows a superuser every table, the ones the question names first', async () => {
    const { admin } = await shop();
    await generated(admin, 'SELECT 1', 'how many order_items per products');
    const prompt = lastPrompt();
    expect(prompt.indexOf('public.order_items')).toBeLessThan(prompt.indexOf('public.customers'));
    expect(prompt).toContain('CREATE TABLE public.secrets');
    expect(prompt).toContain('  PRIMARY KEY (order_id, product_id)');
  });

  it('finds the SQL in the JSON it asked for, in prose, and passes the explanation and warnings on as comments', async () => {
    const { reader } = await shop();
    const json = JSON.stringify({ sql: 'SELECT name FROM customers ORDER BY name LIMIT 5;', explanation: 'Five customers\nby name.', warnings: ['Assumes names are unique'] });
    expect(await generated(reader, json)).toBe(
      'SELECT name FROM customers ORDER BY name LIMIT 5\n\n-- Explanation:\n--   Five customers\n--   by name.\n\n-- Warnings:\n--   1. Assumes names are unique',
    );
    expect(await generated(reader, "Sure! Here's the query:\nSELECT count(*) FROM orders; -- all of them\nIt counts the orders, doesn't it?")).toMatch(/^SELECT count\(\*\) FROM orders LIMIT 1000\n/);
    expect(await generated(reader, 'The answer is SELECT max(total) FROM orders WHERE total > 100')).toMatch(/^SELECT max\(total\) FROM orders WHERE total > 100 LIMIT 1000\n/);
    expect(await generated(reader, '```json\n{"sql": "SELECT 1 -- one\\n", "suggested_visualization": "table"}\n```')).toMatch(/^SELECT 1 -- one\nLIMIT 1000\n/);
    // Review K2: a carriage return ends a comment as a newline does, so each line of the explanation is a comment.
    const hidden = JSON.stringify({ sql: 'SELECT 1', explanation: 'Lists the ids.\r; DROP TABLE customers; --\r\nand more', warnings: ['a\rDROP TABLE orders'] });
    expect(await generated(reader, hidden)).toBe(
      'SELECT 1 LIMIT 1000\n\n-- Explanation:\n--   Lists the ids.\n--   ; DROP TABLE customers; --\n--   and more\n\n-- Warnings:\n--   1. a\n--   DROP TABLE orders\n\n-- Note:\n--   LIMIT 1000 was added ([query] enforce_limit).',
    );
  });

  it('refuses garbage, several statements and system catalogs, and flags statements that change data', async () => {
    const { reader, direct } = await shop();
    await expect(generated(reader, "I'm sorry, I can't help with that.")).rejects.toMatchObject({ code: '42601', message: "the model's answer holds no SQL statement" });
    await expect(generated(reader, '```sql\nSELEC name FROM customers\n```')).rejects.toMatchObject({ code: '42601', message: expect.stringContaining('syntax error at or near "SELEC"') });
    await expect(generated(reader, 'SELECT 1; COMMIT; DROP TABLE customers;')).rejects.toMatchObject({ code: '38003', message: 'the SQL the model wrote holds 3 statements, and only one is allowed' });
    // Review L2: one statement as the check reads it, two under standard_conforming_strings = off.
    await expect(generated(reader, String.raw`SELECT 'a\'';DROP TABLE customers;--'`)).rejects.toMatchObject({ code: '38003', message: expect.stringContaining("has a backslash in a '…' string") });
    expect(await generated(reader, String.raw`SELECT E'a\\b' AS s`)).toMatch(/^SELECT E'a\\\\b' AS s LIMIT 1000/);
    await expect(generated(reader, 'SELECT rolname, rolpassword FROM pg_authid')).rejects.toMatchObject({ code: '38001', message: expect.stringContaining('pg_catalog.pg_authid, a system catalog') });
    await expect(generated(reader, 'SELECT * FROM information_schema.tables')).rejects.toMatchObject({ code: '38001', hint: expect.stringContaining('allow_system_tables') });
    await expect(generated(reader, 'SELECT * FROM _pg_llm_catalog.pg_llm_models')).rejects.toMatchObject({ code: '38001' });
    await expect(generated(reader, 'SELECT pg_llm_chat($$m$$, name) FROM customers')).rejects.toMatchObject({ code: '38001' });
    await expect(generated(reader, 'SET ROLE postgres')).rejects.toMatchObject({ code: '38003', message: 'the SQL the model wrote is a SET statement, which is not allowed here' });
    expect(await generated(reader, 'DELETE FROM orders WHERE id = 10')).toBe(
      'DELETE FROM orders WHERE id = 10\n\n-- Warnings:\n--   1. This DELETE statement changes data: review it before running it.',
    );
    expect(await generated(reader, 'WITH gone AS (DELETE FROM orders RETURNING id) SELECT count(*) FROM gone')).toContain('This data-modifying WITH statement changes data');
    expect(await generated(reader, 'DROP TABLE orders')).toContain('This DROP statement changes the schema');
    expect((await direct.query('SELECT count(*)::int AS n FROM orders')).rows).toEqual([{ n: 4 }]);
  });

  it('follows [query] and [response] of the pg_ai_query config file', async () => {
    const strict = await pgAiProxy(suite.fake, '[query]', 'enforce_limit = false', 'allow_ddl = false', 'allow_dml = false', 'allow_system_tables = true', '[response]', 'use_formatted_response = true', 'show_suggested_visualization = true');
    afterThisTest(() => strict.stop());
    const { admin } = await shop(strict);
    await expect(generated(admin, 'DROP TABLE orders')).rejects.toMatchObject({ code: '38003', message: expect.stringContaining('changes the schema and is not allowed') });
    await expect(generated(admin, 'UPDATE orders SET total = 0')).rejects.toMatchObject({ code: '38003', hint: expect.stringContaining('allow_dml') });
    const answer = await generated(admin, JSON.stringify({ sql: 'SELECT relname FROM pg_class', explanation: 'Relations.', suggested_visualization: 'table' }));
    expect(JSON.parse(answer)).toEqual({ query: 'SELECT relname FROM pg_class', success: true, explanation: 'Relations.', suggested_visualization: 'table' });
    expect(suite.fake.requests.at(-1)!.body.messages).toContainEqual({ role: 'system', content: expect.stringContaining('never INSERT, UPDATE, DELETE or MERGE') });
  });

  it('refuses a request over 4096 characters, a NULL one and an unknown provider without asking the model', async () => {
    const { reader } = await shop();
    await expect(reader.query('SELECT generate_query(repeat($1, 4097))', ['x'])).rejects.toMatchObject({ code: '22023', message: expect.stringContaining('4097 characters') });
    expect((await reader.query(`SELECT length(generate_query(repeat('x', 4096))) > 0 AS ok`).catch((error: unknown) => error)) as object).not.toMatchObject({ code: '22023' });
    await expect(reader.query('SELECT generate_query(NULL)')).rejects.toMatchObject({ code: '22004' });
    await expect(reader.query(`SELECT generate_query('q', NULL, 'nobody')`)).rejects.toMatchObject({ code: '22023', message: 'unknown LLM provider "nobody"' });
    expect(suite.fake.requests).toHaveLength(1);
  });

  it('takes api_key and provider: a key of the call, another provider, and provider errors as 39001', async () => {
    const { reader } = await shop();
    suite.fake.script({ kind: 'answer', content: 'SELECT 1' });
    await reader.query(`SELECT generate_query('one', 'sk-of-the-call')`);
    expect(suite.fake.requests.at(-1)!.authorization).toBe('Bearer sk-of-the-call');
    suite.fake.script({ kind: 'answer', content: 'SELECT 2' });
    await reader.query(`SELECT generate_query('two', 'sk-ant-call', provider => 'anthropic')`);
    expect(suite.fake.requests.at(-1)).toMatchObject({ path: '/v1/messages', body: { model: 'claude-sonnet-4-6' } });
    suite.fake.script({ kind: 'error', status: 500, message: 'overloaded' });
    await expect(reader.query(`SELECT generate_query('three')`)).rejects.toMatchObject({ code: '39001' });
    const error = await reader.query(`SELECT generate_query('four', 'sk-secret-of-the-call', 'anthropic')`).catch((caught: unknown) => caught);
    expect(JSON.stringify(error)).not.toContain('sk-secret-of-the-call');
  });

  it('keeps the schema per session until DDL, GRANT or COMMENT changes it, and sees its own uncommitted DDL', async () => {
    const { reader, admin, direct } = await shop();
    await generated(reader, 'SELECT 1');
    expect(lastPrompt()).toContain('public.orders, about 4 rows');
    // ANALYZE updates the statistics in place: the cached schema stays.
    await direct.query(`INSERT INTO orders SELECT g, 1, '2024-04-01', 1 FROM generate_series(100, 109) g; ANALYZE orders`);
    await generated(reader, 'SELECT 1');
    expect(lastPrompt()).toContain('public.orders, about 4 rows');
    await direct.query(`COMMENT ON TABLE orders IS 'Placed orders'`);
    await generated(reader, 'SELECT 1');
    expect(lastPrompt()).toContain('public.orders, about 14 rows: Placed orders');
    await direct.query(`GRANT SELECT ON products TO ${READER}`);
    await generated(reader, 'SELECT 1');
    expect(lastPrompt()).toContain('CREATE TABLE public.products');
    await admin.query('BEGIN');
    await admin.query('CREATE TABLE drafts (id int)');
    await generated(admin, 'SELECT 1');
    expect(lastPrompt()).toContain('CREATE TABLE public.drafts');
    await admin.query('ROLLBACK');
    await generated(admin, 'SELECT 1');
    expect(lastPrompt()).not.toContain('drafts');
    await admin.query(`SET ROLE ${READER}`);
    await generated(admin, 'SELECT 1');
    expect(lastPrompt()).not.toContain('secrets');
  });

  it('audits and traces the call without the key', async () => {
    const { admin } = await shop();
    await admin.query('SET pg_llm.trace_enabled = on');
    await generated(admin, 'UPDATE orders SET total = total * 2', 'double it');
    const audit = await admin.query(`SELECT event_type, metadata FROM _pg_llm_catalog.pg_llm_audit_log WHERE event_type = 'generate_query'`);
    expect(audit.rows).toEqual([{ event_type: 'generate_query', metadata: expect.objectContaining({ provider: 'openai', statement: 'UPDATE', limit_added: false, prompt_tokens: 7 }) }]);
    const trace = await admin.query(`SELECT step, detail FROM _pg_llm_catalog.pg_llm_trace_log ORDER BY id`);
    expect(trace.rows).toEqual([
      { step: 'generated_sql', detail: { sql: 'UPDATE orders SET total = total * 2' } },
      { step: 'validation', detail: { statement: 'UPDATE', kind: 'dml', warnings: ['This UPDATE statement changes data: review it before running it.'], limit_added: false } },
    ]);
    expect(JSON.stringify([audit.rows, trace.rows])).not.toContain(DEFAULT_KEY);
  });
});

describe('schema discovery', () => {
  it('get_database_tables lists what the role can read, with estimated rows and sizes', async () => {
    const { reader, admin } = await shop();
    const tables = JSON.parse((await reader.query('SELECT get_database_tables() AS t')).rows[0].t);
    expect(tables).toEqual([
      { table_name: 'customers', schema_name: 'public', table_type: 'BASE TABLE', estimated_rows: 3, table_size: expect.stringMatching(/ kB$/) },
      { table_name: 'orders', schema_name: 'public', table_type: 'BASE TABLE', estimated_rows: 4, table_size: expect.stringMatching(/ kB$/) },
    ]);
    const all = JSON.parse((await admin.query('SELECT get_database_tables() AS t')).rows[0].t);
    expect(all.map((table: { table_name: string }) => table.table_name)).toEqual(['customers', 'order_items', 'orders', 'products', 'secrets']);
  });

  it("a table another session holds locked is given with its summary only, rather than waited for", async () => {
    const { reader, direct } = await shop();
    // Review K2: deparsing its defaults, constraints and indexes waited for the lock, as long as its holder liked.
    await direct.query('BEGIN; LOCK TABLE orders IN ACCESS EXCLUSIVE MODE');
    try {
      const details = JSON.parse((await reader.query(`SELECT get_table_details('orders') AS d`)).rows[0].d);
      expect(details).toMatchObject({ table_name: 'orders', not_described: true, columns: [], constraints: [], indexes: [] });
      const customers = JSON.parse((await reader.query(`SELECT get_table_details('customers') AS d`)).rows[0].d);
      expect(customers.columns.length).toBeGreaterThan(0);
    } finally {
      await direct.query('ROLLBACK');
    }
  });

  it('get_table_details gives columns, constraints, foreign keys and indexes; a missing or hidden table is 22023', async () => {
    const { reader } = await shop();
    const details = JSON.parse((await reader.query(`SELECT get_table_details('orders') AS d`)).rows[0].d);
    expect(details).toMatchObject({ table_name: 'orders', schema_name: 'public', table_type: 'BASE TABLE', estimated_rows: 4 });
    expect(details.columns).toEqual([
      { column_name: 'id', data_type: 'integer', is_nullable: false, column_default: null, character_maximum_length: null, numeric_precision: 32, is_primary_key: true, is_unique: true, comment: null },
      { column_name: 'customer_id', data_type: 'integer', is_nullable: false, column_default: null, character_maximum_length: null, numeric_precision: 32, is_primary_key: false, is_unique: false, comment: null },
      { column_name: 'placed_on', data_type: 'date', is_nullable: false, column_default: null, character_maximum_length: null, numeric_precision: null, is_primary_key: false, is_unique: false, comment: null },
      { column_name: 'total', data_type: 'numeric(10,2)', is_nullable: false, column_default: null, character_maximum_length: null, numeric_precision: 10, is_primary_key: false, is_unique: false, comment: null },
    ]);
    expect(details.constraints).toEqual([
      { constraint_name: 'orders_customer_id_fkey', constraint_type: 'FOREIGN KEY', column_names: ['customer_id'], definition: 'FOREIGN KEY (customer_id) REFERENCES customers(id) ON DELETE CASCADE' },
      { constraint_name: 'orders_pkey', constraint_type: 'PRIMARY KEY', column_names: ['id'], definition: 'PRIMARY KEY (id)' },
    ]);
    expect(details.foreign_keys).toEqual([
      { constraint_name: 'orders_customer_id_fkey', column_names: ['customer_id'], foreign_schema: 'public', foreign_table: 'customers', foreign_column_names: ['id'], on_update: 'NO ACTION', on_delete: 'CASCADE' },
    ]);
    expect(details.indexes).toEqual([
      { index_name: 'orders_pkey', columns: ['id'], is_unique: true, is_primary: true, definition: 'CREATE UNIQUE INDEX orders_pkey ON public.orders USING btree (id)' },
      { index_name: 'orders_placed_on', columns: ['placed_on'], is_unique: false, is_primary: false, definition: 'CREATE INDEX orders_placed_on ON public.orders USING btree (placed_on)' },
    ]);
    const customers = JSON.parse((await reader.query(`SELECT get_table_details('customers', 'public') AS d`)).rows[0].d);
    expect(customers.columns.find((column: { column_name: string }) => column.column_name === 'email')).toMatchObject({ data_type: 'character varying(200)', character_maximum_length: 200, is_unique: true, is_nullable: true });
    expect(customers.columns.find((column: { column_name: string }) => column.column_name === 'region')).toMatchObject({ column_default: "'north'::text", comment: 'Sales region' });
    await expect(reader.query(`SELECT get_table_details('secrets')`)).rejects.toMatchObject({ code: '22023', message: 'table "public.secrets" does not exist or the current role cannot read it' });
    await expect(reader.query(`SELECT get_table_details('nope')`)).rejects.toMatchObject({ code: '22023' });
    await expect(reader.query(`SELECT get_table_details('orders', 'elsewhere')`)).rejects.toMatchObject({ code: '22023' });
    expect((await reader.query(`SELECT get_table_details(NULL) AS d`)).rows).toEqual([{ d: null }]);
  });
});
