// The mock provider's text-to-SQL stand-in: only for a request of SQL over a schema, a query of the table named.

import { describe, expect, it } from 'vitest';
import { mockSqlAnswer } from '../../src/providers/mock-sql.js';

const SYSTEM = 'You are a PostgreSQL expert. Write one correct, efficient SQL statement for the request.';
const SCHEMA = [
  'Schema:',
  '-- table public.customers, about 3 rows',
  'CREATE TABLE public.customers (',
  '  id integer NOT NULL,',
  '  "Full Name" text,',
  '  PRIMARY KEY (id)',
  ');',
  '',
  '-- table public."Order", about 0 rows',
  'CREATE TABLE public."Order" (',
  '  customer_id integer,',
  '  FOREIGN KEY (customer_id) REFERENCES public.customers (id)',
  ');',
].join('\n');

const answer = (request: string, system = SYSTEM) => {
  const text = mockSqlAnswer(`${SCHEMA}\n\nRequest: ${request}`, system);
  return text === undefined ? undefined : (JSON.parse(text) as { sql: string; explanation: string });
};

describe('mockSqlAnswer', () => {
  it('reads the shown columns of the table the request names, singular or plural', () => {
    expect(answer('top 5 customers by revenue')?.sql).toBe('SELECT id, "Full Name" FROM public.customers');
    expect(answer('every order of last week')?.sql).toBe('SELECT customer_id FROM public."Order"');
    expect(answer('list each customer')?.explanation).toContain('the table the request names');
  });

  it('falls back to the first table shown, and says so', () => {
    expect(answer('how much did we sell?')).toEqual({ sql: 'SELECT id, "Full Name" FROM public.customers', explanation: expect.stringContaining('the first table of the schema') });
    expect(JSON.parse(mockSqlAnswer('Schema:\n-- The current role can read no tables.\n\nQuestion: anything', SYSTEM)!)).toMatchObject({ sql: '' });
  });

  it('leaves every other prompt alone', () => {
    expect(answer('top customers', 'Summarize the text.')).toBeUndefined();
    expect(mockSqlAnswer('Say hello', SYSTEM)).toBeUndefined();
    expect(mockSqlAnswer(`${SCHEMA}\n\nSomething else`, SYSTEM)).toBeUndefined();
  });
});
