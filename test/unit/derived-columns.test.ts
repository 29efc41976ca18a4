import { beforeAll, describe, expect, it } from 'vitest';
import { withDerivedColumns } from '../../src/sql/derived-columns.js';
import { loadParser } from '../../src/sql/parse.js';
import { parseSync } from '../../src/sql/parser.js';
import { statementScope } from '../../src/sql/statement-scopes.js';

beforeAll(() => loadParser());

type Node = Record<string, any>;

/** The first select-list expression of a SELECT, and what it reads with its derived columns followed. */
function followed(sql: string): { expression: Node; result: Node } {
  const body = (parseSync(sql) as { stmts: Array<{ stmt: Node }> }).stmts[0]!.stmt.SelectStmt as Node;
  const expression = body.targetList[0].ResTarget.val as Node;
  return { expression, result: withDerivedColumns(expression, statementScope(body, undefined), 'the argument') };
}

/** The string constants the first select-list expression reaches, through the columns it reads. */
function constantsReached(sql: string): string[] {
  const strings = (node: unknown): string[] => {
    if (Array.isArray(node)) return node.flatMap(strings);
    if (node === null || typeof node !== 'object') return [];
    return Object.entries(node).flatMap(([key, value]) => (key === 'A_Const' && value.sval ? [value.sval.sval as string] : strings(value)));
  };
  return strings(followed(sql).result);
}

describe('a column of a relation the statement writes', () => {
  it('stands for the expression its FROM subquery, CTE or VALUES list writes under its name', () => {
    expect(constantsReached(`SELECT s.key FROM (SELECT 'a' AS other, 'sk-a'::text AS key) s`)).toEqual(['sk-a']);
    expect(constantsReached(`SELECT k.key FROM (SELECT 1) x, k`)).toEqual([]);
    expect(constantsReached(`WITH k AS (SELECT 'sk-b' AS key) SELECT k.key FROM k`)).toEqual(['sk-b']);
    expect(constantsReached(`WITH k(key) AS (SELECT 'sk-c') SELECT kk.key FROM k AS kk`)).toEqual(['sk-c']);
    expect(constantsReached(`SELECT v.key FROM (VALUES ('a', 'sk-d'), ('b', 'sk-e')) v(name, key)`)).toEqual(['sk-d', 'sk-e']);
    expect(constantsReached(`SELECT v.column2 FROM (VALUES ('a', 'sk-f')) v`)).toEqual(['sk-f']);
    expect(constantsReached(`SELECT key FROM (SELECT 'sk-g' AS key) s`)).toEqual(['sk-g']);
    expect(constantsReached(`SELECT s.text FROM (SELECT 'sk-h'::text) s`)).toEqual(['sk-h']);
  });

  it('is followed through nesting, CTEs at any level of WITH, joins and LATERAL', () => {
    expect(constantsReached(`SELECT o.key FROM (SELECT i.key FROM (SELECT 'sk-a' AS key) i) o`)).toEqual(['sk-a']);
    expect(constantsReached(`WITH a AS (SELECT 'sk-b' AS k) SELECT o.key FROM (WITH b AS (SELECT k AS key FROM a) SELECT b.key FROM b) o`)).toEqual(['sk-b']);
    expect(constantsReached(`SELECT key FROM t JOIN LATERAL (SELECT x.key FROM (VALUES ('sk-c')) x(key)) l ON true`)).toEqual(['sk-c']);
    expect(constantsReached(`SELECT j.key FROM (t CROSS JOIN (SELECT 'sk-d' AS key) s) AS j`)).toEqual(['sk-d']);
    expect(constantsReached(`SELECT s.key FROM (SELECT * FROM (SELECT 'sk-e' AS key) i) s`)).toEqual(['sk-e']);
    expect(constantsReached(`SELECT (SELECT k.key FROM k) FROM (WITH k AS (SELECT 'sk-f' AS key) SELECT 1) x`)).toEqual([]);
    expect(constantsReached(`WITH k AS (SELECT 'sk-g' AS key) SELECT (SELECT upper(k.key) FROM k)`)).toEqual(['sk-g']);
  });

  it("stands for all its defining query writes where it cannot be told: set operations, recursion, functions in FROM, a whole row", () => {
    expect(constantsReached(`SELECT u.key FROM (SELECT key FROM t UNION SELECT 'sk-a') u`)).toEqual(['sk-a']);
    expect(constantsReached(`WITH RECURSIVE r(key) AS (SELECT 'sk-b' UNION ALL SELECT key FROM r) SELECT r.key FROM r`)).toEqual(['sk-b']);
    expect(constantsReached(`SELECT k.key FROM unnest(ARRAY['sk-c']) k(key)`)).toEqual(['sk-c']);
    expect(constantsReached(`SELECT unnest FROM unnest(ARRAY['sk-d'])`)).toEqual(['sk-d']);
    expect(constantsReached(`SELECT s::text FROM (SELECT 'sk-e' AS key) s`)).toEqual(['sk-e']);
    expect(constantsReached(`SELECT s.b FROM (SELECT * FROM (SELECT 'sk-f' AS key) i) s(b)`)).toEqual(['sk-f']);
  });

  it("of a table or view, or of a derived relation's table column, reaches none of the statement's constants", () => {
    const tables = [
      `SELECT t.key FROM t`,
      `SELECT key FROM t, (SELECT 'sk-a' AS other) s`,
      `SELECT public.t.key FROM public.t`,
      `SELECT (SELECT s.key FROM keys s) FROM (SELECT 'sk-b' AS key) s`,
      `WITH k(key) AS (SELECT * FROM keys WHERE provider = 'openai') SELECT k.key FROM k`,
      `SELECT key FROM keys, (SELECT 'sk-c' AS other UNION SELECT 'sk-d') u`,
    ];
    for (const sql of tables) {
      const { expression, result } = followed(sql);
      expect(result, sql).toBe(expression);
    }
    expect(constantsReached(`SELECT s.key FROM (SELECT key FROM keys WHERE name = 'openai') s`)).toEqual([]);
    expect(constantsReached(`SELECT s.key FROM (SELECT * FROM keys WHERE name = 'openai') s`)).toEqual([]);
  });

  it('is refused past a bound when CTEs read each other over and over', () => {
    const ctes = Array.from({ length: 12 }, (_, i) => `c${i + 1} AS (SELECT a.k || b.k AS k FROM c${i} a, c${i} b)`);
    const sql = `WITH c0 AS (SELECT 'sk' AS k), ${ctes.join(', ')} SELECT c12.k FROM c12`;
    expect(() => followed(sql)).toThrowError(expect.objectContaining({ sqlstate: '54001' }));
  });
});
