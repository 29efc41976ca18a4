// The schema text a model is shown stays within its budget whatever the catalogs hold (review 4, finding 3).

import { loadModule } from 'libpg-query';
import { beforeAll, describe, expect, it } from 'vitest';
import { schemaText } from '../../src/sql/schema-context.js';
import type { TableDetails } from '../../src/sql/visible-schema.js';

beforeAll(() => loadModule());

function table(name: string, fields: Partial<TableDetails> = {}): TableDetails {
  return {
    table_name: name, schema_name: 'public', table_type: 'BASE TABLE', estimated_rows: 0, table_size: '8192 bytes',
    comment: null, columns: [], constraints: [], foreign_keys: [], indexes: [], ...fields,
  };
}

describe('schema text budget', () => {
  it('the first table is cut to the budget too, at a line end, saying so', () => {
    const columns = Array.from({ length: 2_000 }, (_, i) => ({
      column_name: `c${i}`, data_type: 'integer', is_nullable: true, column_default: null, character_maximum_length: null,
      numeric_precision: null, is_primary_key: false, is_unique: false, comment: 'x'.repeat(100),
    }));
    const text = schemaText([table('wide', { comment: 'y'.repeat(1_000), columns })], 'what is in wide?');
    expect(text.length).toBeLessThan(31_000);
    expect(text).toMatch(/^ {2}c\d+ integer \/\* x+ \*\/,\n {2}-- … more columns and keys, not shown/m);
  });

  it('tables past the size cap of the catalog query are only named, and thousands of names are counted, not listed', () => {
    const tables = [table('shown'), table('summary_only', { not_described: true }), ...Array.from({ length: 5_000 }, (_, i) => table(`t${String(i).padStart(4, '0')}`, { not_described: true }))];
    const text = schemaText(tables, 'anything');
    expect(text).toContain('CREATE TABLE public.shown');
    expect(text).not.toContain('CREATE TABLE public.summary_only');
    expect(text).toContain('-- Also readable, not shown: public.summary_only, public.t0000');
    expect(text).toMatch(/, and \d+ more$/);
    expect(text.length).toBeLessThan(6_000);
  });
});
