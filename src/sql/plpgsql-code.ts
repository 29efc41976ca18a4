// The SQL a PL/pgSQL body (a DO block's, a function's or procedure's: code-bodies.ts) runs, as PL/pgSQL's own parser
// cuts it: each of its statements and expressions as SQL text the parser reads (PERFORM as the SELECT it runs, an
// expression as SELECT expression, an assignment as SELECT of its value), with the variables its result is assigned
// to: DECLARE's defaults, :=, SELECT … INTO, EXECUTE … INTO, FOR … IN a query, FETCH from a cursor; and the values
// passed to SQL it builds and runs (EXECUTE … USING, the dynamic SQL's $1…), with that SQL. PL/pgSQL's parser
// needs the routine's header (its parameters are variables, what it returns decides which RETURN it takes): a DO
// block's is a function's returning void; a routine's keeps its parameters' names and modes, and what it returns, but
// for types PL/pgSQL compiles no differently, which stand as text.

import { parsePlPgSqlSync, parserInput, scanSync } from './parser.js';

type Node = Record<string, any>;

/** An SQL text the body runs, and the variables (their names) its result is assigned to. */
export interface BodySql {
  text: string;
  writes: string[];
  /** A value passed to SQL the body builds and runs (EXECUTE … USING): that SQL's expression, as SQL text. */
  passedTo?: string;
}

export interface PlPgSqlCode {
  sql: BodySql[];
  /** The labels of its blocks and loops, which qualify a variable's name (outer.k). */
  labels: Set<string>;
  /** Each alias (DECLARE j ALIAS FOR $1) with the name of the variable it stands for. */
  aliases: Array<[string, string]>;
}

/** The parse mode of an expression PL/pgSQL reads (PostgreSQL's RawParseMode). */
const STATEMENT = 0;
const EXPRESSION = 2;
const ASSIGNMENTS = new Set([3, 4, 5]);

const MODES: Record<string, string> = { FUNC_PARAM_OUT: 'OUT', FUNC_PARAM_INOUT: 'INOUT', FUNC_PARAM_VARIADIC: 'VARIADIC' };
/** Return types that PL/pgSQL compiles apart (no value, a trigger's NEW and OLD): any other stands as text. */
const OWN_RETURN_TYPES = new Set(['void', 'trigger', 'event_trigger', 'record']);

/** The SQL of a PL/pgSQL body; `routine` its CreateFunctionStmt (none for a DO block). Undefined when PL/pgSQL's parser refuses it. */
export function plpgsqlCode(body: string, routine?: Node): PlPgSqlCode | undefined {
  const code = parserInput(body);
  let tag = '$pg_llm$';
  for (let n = 1; code.includes(tag); n++) tag = `$pg_llm_${n}$`;
  let tree: { plpgsql_funcs?: Array<{ PLpgSQL_function?: Node }> };
  try {
    tree = parsePlPgSqlSync(`${header(routine)} LANGUAGE plpgsql AS ${tag}${code}${tag}`) as typeof tree;
  } catch {
    return undefined;
  }
  const parsed = tree.plpgsql_funcs?.[0]?.PLpgSQL_function;
  if (!parsed) return undefined;
  const reader = new BodyReader((parsed.datums ?? []) as Node[]);
  reader.statement(parsed.action, []);
  return reader.done((parsed.aliases ?? []) as Node[]);
}

function header(routine: Node | undefined): string {
  if (!routine) return 'CREATE FUNCTION pg_llm_block() RETURNS void';
  const parameters = ((routine.parameters ?? []) as Node[]).map(({ FunctionParameter }) => FunctionParameter as Node);
  const columns = parameters.filter(({ mode }) => mode === 'FUNC_PARAM_TABLE').map(({ name }) => `${quoted(name)} text`);
  const list = parameters
    .filter(({ mode }) => mode !== 'FUNC_PARAM_TABLE')
    .map(({ mode, name }) => [MODES[mode], name === undefined ? undefined : quoted(name), mode === 'FUNC_PARAM_VARIADIC' ? 'text[]' : 'text'].filter(Boolean).join(' '));
  const returned = routine.returnType as Node | undefined;
  const type = (returned?.names as Node[] | undefined)?.at(-1)?.String?.sval as string | undefined;
  const returns =
    columns.length > 0
      ? `RETURNS TABLE (${columns.join(', ')})`
      : returned
        ? `RETURNS ${returned.setof ? 'SETOF ' : ''}${type && OWN_RETURN_TYPES.has(type) ? type : 'text'}`
        : '';
  return `CREATE ${routine.is_procedure ? 'PROCEDURE' : 'FUNCTION'} pg_llm_body(${list.join(', ')}) ${returns}`;
}

function quoted(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** The tree PL/pgSQL's parser gives, read for its SQL and the variables each piece of it writes. */
class BodyReader {
  private readonly sql: BodySql[] = [];
  private readonly labels = new Set<string>();
  /** The queries each cursor variable (by its number) is declared or opened with, and FETCH's targets from it. */
  private readonly cursors = new Map<number, string[]>();
  private readonly fetches: Array<{ cursor: number; writes: string[] }> = [];

  constructor(private readonly datums: Node[]) {
    datums.forEach((datum, number) => {
      const variable = Object.values(datum)[0] as Node;
      if (variable.default_val) this.expression(variable.default_val, [variable.refname]);
      if (variable.cursor_explicit_expr) this.cursor(number, variable.cursor_explicit_expr);
    });
  }

  /** Walks a node (a statement, or what holds some) for expressions, `writes` the targets of the statement they are of. */
  statement(node: unknown, writes: string[]): void {
    if (Array.isArray(node)) return node.forEach((item) => this.statement(item, writes));
    if (node === null || typeof node !== 'object') return;
    for (const [key, value] of Object.entries(node as Node)) {
      if (key === 'PLpgSQL_expr') this.expression({ PLpgSQL_expr: value }, writes);
      else if (key.startsWith('PLpgSQL_stmt_')) this.ownStatement(key, value as Node);
      else {
        if (key === 'label' && typeof value === 'string') this.labels.add(value);
        this.statement(value, writes);
      }
    }
  }

  done(aliases: Node[]): PlPgSqlCode {
    for (const { cursor, writes } of this.fetches) for (const text of this.cursors.get(cursor) ?? []) this.sql.push({ text, writes });
    const named = aliases.flatMap(({ PLpgSQL_alias: { name, varno } }) => this.datumNames(this.datums[varno ?? 0]).map((of): [string, string] => [name, of]));
    return { sql: this.sql, labels: this.labels, aliases: named };
  }

  private ownStatement(kind: string, statement: Node): void {
    const writes = this.targets(statement);
    if (kind === 'PLpgSQL_stmt_open' && statement.query) this.cursor(statement.curvar, statement.query);
    if (kind === 'PLpgSQL_stmt_fetch' && writes.length > 0) this.fetches.push({ cursor: statement.curvar, writes });
    // RAISE's params are its message's, not a dynamic statement's.
    const parameters = statement.params as Node[] | undefined;
    const dynamic = (statement.query ?? statement.dynquery) as Node | undefined;
    const passedTo = parameters && dynamic && sqlText(dynamic);
    if (passedTo === undefined) return this.statement(statement, writes);
    for (const parameter of parameters!) {
      const text = sqlText(parameter);
      if (text !== undefined) this.sql.push({ text, writes: [], passedTo });
    }
    this.statement({ ...statement, params: undefined }, writes);
  }

  /** The variables a statement assigns: an assignment's, INTO's, a loop's. */
  private targets(statement: Node): string[] {
    const named = [statement.varno === undefined ? undefined : this.datumNames(this.datums[statement.varno]), this.datumNames(statement.var), this.datumNames(statement.target)];
    return named.flat().filter((name): name is string => name !== undefined);
  }

  /** A variable's names; a field's (r.n := …) as its variable's name and its own, r.n. */
  private datumNames(datum: Node | undefined): string[] {
    if (!datum) return [];
    const [kind, variable] = Object.entries(datum)[0] as [string, Node];
    if (kind === 'PLpgSQL_recfield') return this.datumNames(this.datums[variable.recparentno ?? 0]).map((name) => `${name}.${variable.fieldname}`);
    return kind === 'PLpgSQL_row' ? ((variable.fields ?? []) as Node[]).map(({ name }) => name as string) : [variable.refname as string];
  }

  private cursor(number: number, expression: Node): void {
    const text = sqlText(expression);
    if (text === undefined) return;
    this.cursors.set(number, [...(this.cursors.get(number) ?? []), text]);
    this.sql.push({ text, writes: [] });
  }

  private expression(expression: Node, writes: string[]): void {
    const text = sqlText(expression);
    if (text !== undefined) this.sql.push({ text, writes });
  }
}

/** An expression's SQL as the parser reads it alone; undefined for a type's name. */
function sqlText(expression: Node): string | undefined {
  const { query, parseMode } = (expression.PLpgSQL_expr ?? {}) as { query?: string; parseMode?: number };
  if (query === undefined) return undefined;
  if ((parseMode ?? STATEMENT) === STATEMENT) return query;
  if (parseMode === EXPRESSION) return `SELECT ${query}`;
  return parseMode !== undefined && ASSIGNMENTS.has(parseMode) ? `SELECT ${assignedValue(query)}` : undefined;
}

/** What `target := value` (or `target = value`, the target maybe subscripted or qualified) assigns. */
function assignedValue(assignment: string): string {
  const bytes = Buffer.from(assignment, 'utf8');
  let depth = 0;
  for (const token of scanSync(assignment).tokens) {
    if (token.text === '(' || token.text === '[') depth++;
    else if (token.text === ')' || token.text === ']') depth--;
    else if (depth === 0 && (token.text === ':=' || token.text === '=')) return bytes.toString('utf8', token.end);
  }
  return assignment;
}
