// EXPLAIN of a statement that calls LLM functions: without ANALYZE, PostgreSQL plans the statement without running
// it, and the proxy adds a NOTICE with the model calls it would make (execution.ts). This reads which statement an
// EXPLAIN explains, as text, and whether the EXPLAIN runs it.

import { scanSync } from '../sql/parser.js';

type Node = Record<string, any>;

/** The text of the statement an EXPLAIN explains, when the EXPLAIN does not run it (no ANALYZE); else undefined. */
export function explainedWithoutRunning(sql: string, explain: Node): string | undefined {
  const options = (explain.options ?? []) as Array<{ DefElem?: { defname: string; arg?: Node } }>;
  const analyze = options.find((option) => option.DefElem?.defname === 'analyze')?.DefElem;
  if (analyze && isOn(analyze.arg)) return undefined;
  return explainedText(sql);
}

/** An EXPLAIN option's Boolean value as PostgreSQL reads it (defGetBoolean): no value, true, on, 1. */
function isOn(value: Node | undefined): boolean {
  if (value === undefined) return true;
  if (value.Boolean) return value.Boolean.boolval === true;
  if (value.Integer) return (value.Integer.ival ?? 0) !== 0;
  if (value.String) return ['true', 'on'].includes(String(value.String.sval).toLowerCase());
  return true;
}

/** What follows EXPLAIN, its parenthesized options or its old-style VERBOSE, by the scanner's tokens. */
function explainedText(sql: string): string {
  const tokens = scanSync(sql).tokens;
  let next = 1;
  if (tokens[next]?.text === '(') {
    for (let depth = 0; next < tokens.length; next++) {
      if (tokens[next]!.text === '(') depth++;
      else if (tokens[next]!.text === ')' && --depth === 0) break;
    }
    next++;
  }
  while (/^(verbose|analyze|analyse)$/i.test(tokens[next]?.text ?? '')) next++;
  return Buffer.from(sql, 'utf8').toString('utf8', tokens[next]?.start ?? Buffer.byteLength(sql));
}
