// The chart a report gets from its result's shape.

import { describe, expect, it } from 'vitest';
import { chartFor, chartMark } from '../../src/sql/chart.js';
import type { ResultColumn } from '../../src/sql/result-json.js';

const column = (name: string, category: ResultColumn['category']): ResultColumn => ({ name, type: category === 'nominal' ? 'text' : category === 'temporal' ? 'date' : 'numeric', category });
const rows = [{ a: 1 }];

describe('chart choice', () => {
  it('a category and a number: bars, sorted by the number, coloured by a second category', () => {
    const chart = chartFor([column('region', 'nominal'), column('revenue', 'quantitative'), column('channel', 'nominal')], rows, 'Revenue');
    expect(chart.kind).toBe('bar');
    expect(chart.spec).toMatchObject({
      $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
      title: 'Revenue',
      data: { values: rows },
      mark: 'bar',
      encoding: {
        x: { field: 'region', type: 'nominal', sort: '-y' },
        y: { field: 'revenue', type: 'quantitative' },
        color: { field: 'channel', type: 'nominal' },
      },
    });
  });

  it('a time and a number: a line; several numbers: one line each', () => {
    expect(chartFor([column('day', 'temporal'), column('total', 'quantitative')], rows, 't').spec).toMatchObject({
      mark: 'line',
      encoding: { x: { field: 'day', type: 'temporal' }, y: { field: 'total', type: 'quantitative' } },
    });
    const folded = chartFor([column('day', 'temporal'), column('total', 'quantitative'), column('orders', 'quantitative')], rows, 't').spec!;
    expect(folded).toMatchObject({ transform: [{ fold: ['total', 'orders'], as: ['series', 'value'] }], encoding: { y: { field: 'value' }, color: { field: 'series' } } });
  });

  it('two numbers: points; text only, or no rows: a table without a chart', () => {
    expect(chartFor([column('x', 'quantitative'), column('y', 'quantitative')], rows, 't').kind).toBe('point');
    expect(chartFor([column('name', 'nominal')], rows, 't')).toEqual({ kind: 'table', spec: null });
    expect(chartFor([column('region', 'nominal'), column('revenue', 'quantitative')], [], 't')).toEqual({ kind: 'table', spec: null });
  });

  it('chart_type replaces the mark, and must be one Vega-Lite knows here', () => {
    expect(chartFor([column('region', 'nominal'), column('revenue', 'quantitative')], rows, 't', chartMark('area'))).toMatchObject({ kind: 'area', spec: { mark: 'area' } });
    expect(() => chartMark('pie3d')).toThrow(expect.objectContaining({ sqlstate: '22023' }));
  });
});
