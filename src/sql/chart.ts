// The Vega-Lite chart a report shows, chosen from its result's shape: a time column and numbers make a line chart
// (one line per further category, or per number when there are several), a category and a number a bar chart
// (bars per further category stacked by colour), two numbers a scatter plot. Anything else is best read as a table,
// and gets no chart. The rows go into the spec inline, so it renders on its own.

import { PgError } from '../../proxy/pg-error.js';
import type { ResultColumn } from './result-json.js';

const MARKS: readonly string[] = ['line', 'bar', 'point', 'area'];
const SCHEMA = 'https://vega.github.io/schema/vega-lite/v5.json';

export interface Chart {
  /** The mark (line, bar, point, area), or table when there is no chart. */
  kind: string;
  /** Absent for a table. */
  spec: Record<string, unknown> | null;
}

/** A report's chart_type option: a mark to use instead of the chosen one. */
export function chartMark(option: unknown): string | undefined {
  if (option === undefined || option === null) return undefined;
  if (!MARKS.includes(option as string)) throw new PgError('22023', `options.chart_type must be one of ${MARKS.join(', ')}`);
  return option as string;
}

/** `mark` replaces the chosen mark where the data makes a chart at all. */
export function chartFor(columns: ResultColumn[], rows: Array<Record<string, unknown>>, title: string, mark?: string): Chart {
  const of = (category: ResultColumn['category']) => columns.filter((column) => column.category === category);
  const [time] = of('temporal');
  const numbers = of('quantitative');
  const [category, subcategory] = of('nominal');
  const base = { $schema: SCHEMA, title, data: { values: rows } };
  const field = (column: ResultColumn, type: string, extra: Record<string, unknown> = {}) => ({ field: column.name, type, title: column.name, ...extra });
  const tooltip = columns.map((column) => field(column, column.category));
  const chart = (chosen: string, spec: Record<string, unknown>): Chart => {
    const kind = mark ?? chosen;
    return { kind, spec: { ...spec, mark: kind } };
  };
  if (rows.length === 0 || numbers.length === 0) return { kind: 'table', spec: null };
  if (time) {
    const folded = !category && numbers.length > 1;
    const encoding = {
      x: field(time, 'temporal'),
      y: folded ? { field: 'value', type: 'quantitative', title: 'value' } : field(numbers[0]!, 'quantitative'),
      ...(folded ? { color: { field: 'series', type: 'nominal', title: 'series' } } : category ? { color: field(category, 'nominal') } : {}),
      tooltip,
    };
    const transform = folded ? { transform: [{ fold: numbers.map((column) => column.name), as: ['series', 'value'] }] } : {};
    return chart('line', { ...base, ...transform, encoding });
  }
  if (category) {
    const encoding = {
      x: field(category, 'nominal', { sort: '-y' }),
      y: field(numbers[0]!, 'quantitative'),
      ...(subcategory ? { color: field(subcategory, 'nominal') } : {}),
      tooltip,
    };
    return chart('bar', { ...base, encoding });
  }
  if (numbers.length >= 2) {
    const encoding = { x: field(numbers[0]!, 'quantitative'), y: field(numbers[1]!, 'quantitative'), tooltip };
    return chart('point', { ...base, encoding });
  }
  return { kind: 'table', spec: null };
}
