// The SQL statements of code kept as text (code-bodies.ts: a SQL body, PL/pgSQL's statements and expressions, SQL
// run from strings) judged as a top-level statement's are (secret-literals.ts): a secret argument computed from
// constants, or reading a column that the statement writes out in constants (a FROM subquery, a CTE, VALUES…), is
// refused, since the server logs a DO block that fails with its text, and keeps a function's in pg_proc.prosrc. In
// PL/pgSQL a constant reaches a call through variables too: a secret argument that reads a variable some assignment
// gives a string constant (DECLARE k text := 'sk-…', k := …, SELECT 'sk-…' INTO k, FOR r IN SELECT 'sk-…' AS k …,
// FETCH of a cursor's, and so from variable to variable; a field, r.n := …, marks r.n, and r read whole; a routine's
// parameter whose DEFAULT is one, by its name, $n or an alias: parameter-defaults.ts) is refused, and so is such a
// value, or a string constant,
// passed to SQL the code builds that calls a function that takes secrets (EXECUTE … USING). That over-reaches rather
// than follow values through the code's branches (a variable given a model's name, then a key read from a table):
// such code cannot call the proxy's functions anyway, which run only in statements the proxy reads.

import { PgError } from '../../proxy/pg-error.js';
import { writesOutSecret } from './computed-secrets.js';
import { withDerivedColumns } from './derived-columns.js';
import { readSecrets, secretLiterals, SecretSyntaxError } from './secret-literals.js';
import { names, scopeWithin } from './statement-scopes.js';

type Node = Record<string, any>;

/**
 * Statements the parser read from a text of the code; `writes`, the variables their result is assigned to; `passed`,
 * a value passed to SQL the code builds that may call a function that takes secrets.
 */
export interface CodeSql {
  statements: Node[];
  text: string;
  writes: string[];
  passed?: boolean;
}

/**
 * Variables known before the code runs: `given`, the names of those holding a string constant already (a routine's
 * parameter's DEFAULT: parameter-defaults.ts); `aliases`, pairs of names of one variable (DECLARE j ALIAS FOR $1).
 */
export interface KnownVariables {
  given?: string[];
  aliases?: Array<[string, string]>;
}

/** What the statements would hand the server through a column or a variable, as "cannot …" words; undefined if nothing. */
export function secretThroughSql(sql: CodeSql[], labels: Set<string>, known: KnownVariables = {}): string | undefined {
  for (const { statements, text } of sql) {
    const found = literalsIn(statements, text);
    if (found) return found;
  }
  return secretThroughVariables(sql, labels, known);
}

/** What the statements would hand the server through a variable (their secret arguments written out aside). */
export function secretThroughVariables(sql: CodeSql[], labels: Set<string>, known: KnownVariables = {}): string | undefined {
  const tainted = variablesWithConstants(sql, labels, known);
  // Not quoted: the value may be the key.
  const passed = sql.some(({ statements, passed }) => passed && statements.some((statement) => resultHoldsConstant(statement, tainted, labels)));
  if (passed) return `pass a string constant, or a variable it assigns one, to SQL it runs that calls a function that takes secrets (EXECUTE … USING)`;
  if (tainted.size === 0) return undefined;
  for (const { statements } of sql) {
    for (const { argument, expression } of readSecrets(statements)) {
      const variable = variablesRead(expression, labels).find((name) => holdsTaint(name, tainted));
      if (variable !== undefined) return `give ${argument} the variable ${variable}, which it assigns string constants (or its DEFAULT gives one)`;
    }
  }
  return undefined;
}

/** A secret argument the statements write out, or the refusal of one a top-level statement would get. */
function literalsIn(statements: Node[], text: string): string | undefined {
  try {
    const literals = secretLiterals(statements, text);
    return literals.length > 0 ? `write out a secret argument of ${literals[0]!.writtenFor}` : undefined;
  } catch (error) {
    if (error instanceof SecretSyntaxError || (error instanceof PgError && error.sqlstate === '0A000')) return `run SQL in which ${error.message}`;
    throw error;
  }
}

/** The variables that an assignment gives a string constant, or the value of another such variable, or an alias of one. */
function variablesWithConstants(sql: CodeSql[], labels: Set<string>, { given = [], aliases = [] }: KnownVariables): Set<string> {
  const tainted = new Set<string>(given);
  for (let grew = true; grew; ) {
    grew = false;
    for (const pair of aliases) {
      if (pair.every((name) => tainted.has(name)) || !pair.some((name) => tainted.has(name))) continue;
      pair.forEach((name) => tainted.add(name));
      grew = true;
    }
    for (const { statements, writes } of sql) {
      if (writes.every((name) => tainted.has(name))) continue;
      if (!statements.some((statement) => resultHoldsConstant(statement, tainted, labels))) continue;
      writes.forEach((name) => tainted.add(name));
      grew = true;
    }
  }
  return tainted;
}

/**
 * Whether a statement's result may hold a string constant it writes out or a tainted variable: a SELECT's columns
 * (what the columns they read of its subqueries stand for), anything else's whole text.
 */
function resultHoldsConstant(statement: Node, tainted: Set<string>, labels: Set<string>): boolean {
  const holds = (expression: Node) => writesOutSecret(expression, 'key') || variablesRead(expression, labels).some((name) => holdsTaint(name, tainted));
  const select = statement.SelectStmt as Node | undefined;
  if (!select?.targetList || select.op !== 'SETOP_NONE') return holds(statement);
  const scope = scopeWithin(statement, undefined);
  return (select.targetList as Node[]).some(({ ResTarget }) => holds(withDerivedColumns(ResTarget.val as Node, scope, 'a value assigned to a variable')));
}

/**
 * Whether a variable read (k, or a field of one, r.n) may hold a string constant: it, or its variable (r := …), was
 * given one; or, read whole, a field of it was (r.n := …). A trigger's NEW.status := 'done' leaves NEW.k alone.
 */
function holdsTaint(name: string, tainted: Set<string>): boolean {
  const variable = name.split('.')[0]!;
  return tainted.has(name) || tainted.has(variable) || (variable === name && [...tainted].some((held) => held.startsWith(`${name}.`)));
}

/**
 * The names of variables an expression may read: a column reference's first name, with its field if it names one
 * (r.n), or after a block's label the next (b.k, b.r.n); a parameter's number ($1).
 */
function variablesRead(node: unknown, labels: Set<string>): string[] {
  if (Array.isArray(node)) return node.flatMap((item) => variablesRead(item, labels));
  if (node === null || typeof node !== 'object') return [];
  const parameter = (node as Node).ParamRef as Node | undefined;
  if (parameter) return [`$${parameter.number ?? 0}`];
  const reference = (node as Node).ColumnRef as Node | undefined;
  if (reference) {
    const parts = names(((reference.fields ?? []) as Node[]).filter((field) => field.String));
    const read = (at: number) => (parts[at] === undefined ? [] : [parts.slice(at, at + 2).join('.')]);
    return [...read(0), ...(labels.has(parts[0]!) ? read(1) : [])];
  }
  return Object.values(node).flatMap((value) => variablesRead(value, labels));
}
