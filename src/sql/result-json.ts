// A query's result as JSON for the functions that hand results back or to a model: each column's name, its type
// as PostgreSQL names it and what kind of value it holds (for choosing a chart), and each row as an object whose
// values are JSON numbers, booleans, JSON or text as the column's type says. Numbers that a JSON number cannot hold
// exactly stay text; timestamps become ISO 8601, which charting tools parse. JSON values past the bounds of JSON parsed
// on the event loop (src/json-structure.ts: any role's table may hold millions of `[]` in a jsonb) stay text too.

import type { CallContext, QueryTable } from '../../functions/declaration.js';
import { mapWithTurns } from '../event-loop-turns.js';
import { EVENT_LOOP_JSON, exceededJsonLimit } from '../json-structure.js';

/** Vega-Lite's names for what a column holds. */
export type ColumnCategory = 'quantitative' | 'temporal' | 'nominal';

export interface ResultColumn {
  name: string;
  type: string;
  category: ColumnCategory;
}

export interface ResultJson {
  columns: ResultColumn[];
  rows: Array<Record<string, unknown>>;
}

const Oid = { bool: 16, int8: 20, int2: 21, int4: 23, oid: 26, json: 114, float4: 700, float8: 701, date: 1082, timestamp: 1114, timestamptz: 1184, numeric: 1700, jsonb: 3802 };
const INTEGERS = new Set([Oid.int2, Oid.int4, Oid.int8, Oid.oid]);
const NUMBERS = new Set([...INTEGERS, Oid.float4, Oid.float8, Oid.numeric]);
const TEMPORAL = new Set([Oid.date, Oid.timestamp, Oid.timestamptz]);
/** Significant digits every double holds exactly. */
const EXACT_DIGITS = 15;

export async function resultJson(context: CallContext, table: QueryTable): Promise<ResultJson> {
  const oids = table.columns.map((column) => column.typeOid);
  const names = oids.length === 0 ? [] : await context.query(`SELECT pg_catalog.format_type(t.oid, NULL) AS name FROM pg_catalog.unnest($1::pg_catalog.oid[]) WITH ORDINALITY AS t(oid, i) ORDER BY t.i`, [`{${oids.join(',')}}`]);
  const columns = table.columns.map((column, i) => ({ name: column.name, type: names[i]!.name!, category: category(column.typeOid) }));
  const rows = await mapWithTurns(table.rows, (row) => Object.fromEntries(row.map((value, i) => [columns[i]!.name, jsonValue(value, oids[i]!)])));
  return { columns, rows };
}

function category(oid: number): ColumnCategory {
  return NUMBERS.has(oid) ? 'quantitative' : TEMPORAL.has(oid) ? 'temporal' : 'nominal';
}

function jsonValue(text: string | null, oid: number): unknown {
  if (text === null) return null;
  if (oid === Oid.bool) return text === 't';
  if (oid === Oid.json || oid === Oid.jsonb) return exceededJsonLimit(text, EVENT_LOOP_JSON) === undefined ? JSON.parse(text) : text;
  if (NUMBERS.has(oid)) {
    const number = Number(text);
    const exact = INTEGERS.has(oid) ? Number.isSafeInteger(number) : Number.isFinite(number) && (oid !== Oid.numeric || text.replace(/^-|\.|e.*$/gi, '').replace(/^0+/, '').length <= EXACT_DIGITS);
    return exact ? number : text;
  }
  if (oid === Oid.timestamp || oid === Oid.timestamptz) return text.replace(' ', 'T').replace(/([+-]\d\d)$/, '$1:00');
  return text;
}
