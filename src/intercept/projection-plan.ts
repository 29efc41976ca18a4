// The fast path for calls that stand as whole columns of a SELECT (SELECT id, pg_llm_chat('m', body) FROM docs …):
// each call is rewritten into the JSON array of its arguments, so PostgreSQL returns, row by row and in the
// statement's order, what each call needs; the proxy computes the calls and sends each row as soon as its calls
// (and those of the rows before it) are done. No pass runs twice, so nothing can disagree between passes.

import { parseSync, scanSync } from '../sql/parser.js';
import { findFunction, functionCalled, functionsCalled, keyOf } from '../../functions/registry.js';
import { VECTOR } from '../../functions/vector-type.js';
import { nameParts } from './analyze.js';

export interface ProjectedCall {
  /** The output column the call stands as. */
  column: number;
  /** The function's key (functions/registry.ts). */
  function: string;
  /** In a one-row statement, how the call names the model it reads first, when it does (reads-ahead.ts). */
  model?: NamedModel;
}

/**
 * A model named by a constant or by a parameter (numbered from 0); `parameters` are the call's arguments that are
 * parameters, any of which NULL makes the (strict) call return NULL without reading its model.
 */
export type NamedModel = ({ constant: string } | { parameter: number }) & { parameters: number[] };

/** Which output columns of a statement are calls, out of how many. */
export interface ProjectedCalls {
  calls: ProjectedCall[];
  columns: number;
}

export interface ProjectionPlan extends ProjectedCalls {
  /** The statement with each call replaced by jsonb_build_array of its arguments, cast to the declared types. */
  rewrittenSql: string;
  /**
   * The statement is a list of constants, parameters and calls of nothing else (SELECT pg_llm_chat($1, 'hi')): its
   * one row is all there in the first batch, so a cap can check the calls before they run (projection.ts).
   */
  oneRow: boolean;
}

type Node = Record<string, any>;

/** What a SELECT of one row of constants and calls has of its parse tree: its output columns, and the defaults. */
const ONE_ROW_CLAUSES = new Set(['targetList', 'op', 'limitOption']);

/** Clauses that would see the calls' results rather than their arguments. */
const RESULT_CLAUSES = ['distinctClause', 'groupClause', 'havingClause', 'windowClause', 'intoClause', 'lockingClause', 'valuesLists'];

/**
 * The fast-path plan of one SELECT statement, or undefined when its calls stand anywhere else than as whole output
 * columns (then the general path runs it). `callSites` is how many intercepted calls the statement has in all.
 */
export function projectionPlan(sql: string, callSites: number): ProjectionPlan | undefined {
  const select = (parseSync(sql) as { stmts: Array<{ stmt: Node }> }).stmts[0]?.stmt.SelectStmt as Node | undefined;
  if (!select || select.op !== 'SETOP_NONE' || RESULT_CLAUSES.some((clause) => select[clause] !== undefined)) return undefined;
  const calls: Array<ProjectedCall & { name: string; node: Node; alias: string | undefined }> = [];
  const targets = select.targetList as Array<{ ResTarget: Node }>;
  // With * the output columns cannot be counted from the text.
  if (targets.some(({ ResTarget: target }) => target.val?.ColumnRef?.fields?.some((field: Node) => field.A_Star))) return undefined;
  let overloaded = false;
  targets.forEach(({ ResTarget: target }, column) => {
    const call = target.val?.FuncCall as Node | undefined;
    const parts = call ? nameParts(call) : [];
    const declaration = functionCalled(parts);
    if (declaration) calls.push({ column, function: keyOf(declaration), name: declaration.name, node: call!, alias: target.name });
    // Which overload a call reaches is PostgreSQL's to say: the passes ask it, through the stubs.
    else if (functionsCalled(parts).length > 1) overloaded = true;
  });
  if (overloaded) return undefined;
  if (calls.length === 0 || calls.length !== callSites) return undefined;
  for (const { node, function: key } of calls) {
    const declaration = findFunction(key)!;
    // An aggregate's call stands for a group of rows, not for the row its arguments come from.
    if (declaration.result.kind !== 'scalar' || declaration.aggregate || node.agg_star || node.agg_distinct || node.func_variadic || node.over || node.agg_order || node.agg_filter) return undefined;
    if ((node.args ?? []).some((argument: Node) => argument.NamedArgExpr)) return undefined;
    // A call no declaration takes is PostgreSQL's to refuse (42883), in the passes, as it would be without the proxy.
    if ((node.args ?? []).length > declaration.arguments.length) return undefined;
  }
  if (sortsByResult(select.sortClause, calls)) return undefined;
  const rewrittenSql = rewrite(sql, calls);
  if (rewrittenSql === undefined) return undefined;
  const ofConstants = ({ ResTarget: target }: { ResTarget: Node }) =>
    isConstant(target.val) || calls.some((call) => call.node === target.val?.FuncCall && (call.node.args ?? []).every(isConstant));
  const oneRow = Object.keys(select).every((clause) => ONE_ROW_CLAUSES.has(clause)) && targets.every(ofConstants);
  return {
    calls: calls.map(({ column, function: key, node }) => {
      const model = oneRow ? namedModel(key, node.args ?? []) : undefined;
      return model ? { column, function: key, model } : { column, function: key };
    }),
    columns: targets.length,
    rewrittenSql,
    oneRow,
  };
}

/** A constant or a parameter, cast or not: what PostgreSQL evaluates with no row to read and no function of its own to call. */
function isConstant(node: Node | undefined): boolean {
  if (node?.TypeCast) return isConstant(node.TypeCast.arg);
  return node?.A_Const !== undefined || node?.ParamRef !== undefined;
}

/** How a call of constant arguments names the model it reads first; undefined when it reads none (a NULL argument of a strict function). */
function namedModel(key: string, args: Node[]): NamedModel | undefined {
  const declaration = findFunction(key)!;
  const index = declaration.arguments.findIndex((argument) => argument.name === declaration.readsModel);
  const named = args[index];
  const uncast = (node: Node): Node => (node.TypeCast ? uncast(node.TypeCast.arg) : node);
  if (index < 0 || !named || (declaration.strict && args.some((argument) => uncast(argument).A_Const?.isnull))) return undefined;
  const parameters = args.flatMap((argument) => (uncast(argument).ParamRef ? [uncast(argument).ParamRef.number - 1] : []));
  if (named.ParamRef) return { parameter: named.ParamRef.number - 1, parameters };
  const constant = named.A_Const?.sval?.sval;
  return typeof constant === 'string' ? { constant, parameters } : undefined;
}

/**
 * The type an argument is cast to, as the stub's parameter would take it. A vector is the exception: the upstream
 * spells it vector or real[] (functions/vector-type.ts), and either reads back from its text form. PostgreSQL has
 * checked the argument against the stub already, when it parsed the statement as the client wrote it.
 */
function argumentCast(type: string): string {
  return inPgCatalog(type === VECTOR ? 'text' : type);
}

/**
 * The type named in pg_catalog: the statement runs under the caller's search_path, where another role's public.jsonb
 * domain (and its CHECK) would be taken in its place. Types PostgreSQL spells as keywords (integer, boolean, double
 * precision…) are pg_catalog's already.
 */
function inPgCatalog(type: string): string {
  return /^(text|jsonb|json|name|regclass|uuid|bytea)(\[\])?$/.test(type) ? `pg_catalog.${type}` : type;
}


/** ORDER BY an output column's position, or a name a call's column goes by, would sort by the arguments instead. */
function sortsByResult(sortClause: Array<{ SortBy: Node }> | undefined, calls: Array<{ name: string; alias: string | undefined }>): boolean {
  const names = new Set(calls.map((call) => call.alias ?? call.name));
  return (sortClause ?? []).some(({ SortBy: sort }) => {
    if (sort.node?.A_Const) return true;
    const fields = sort.node?.ColumnRef?.fields as Array<{ String?: { sval: string } }> | undefined;
    return fields?.length === 1 && names.has(fields[0]!.String?.sval ?? '');
  });
}

/** Splices jsonb_build_array((arg)::type, …, default…) over each call, using the scanner's byte offsets. */
function rewrite(sql: string, calls: Array<{ node: Node; function: string }>): string | undefined {
  const bytes = Buffer.from(sql, 'utf8');
  const tokens = scanSync(sql).tokens;
  const parts: Buffer[] = [];
  let copied = 0;
  for (const { node, function: key } of [...calls].sort((a, b) => a.node.location - b.node.location)) {
    const open = tokens.findIndex((token) => token.start >= node.location && token.text === '(');
    if (open < 0) return undefined;
    const argumentSpans: Array<[number, number]> = [];
    let depth = 0;
    let argumentStart = tokens[open]!.end;
    let close = -1;
    for (let i = open; i < tokens.length && close < 0; i++) {
      const token = tokens[i]!;
      if (token.text === '(' || token.text === '[') depth++;
      else if (token.text === ')' || token.text === ']') depth--;
      if (depth === 0) close = token.start;
      if ((depth === 0 || (depth === 1 && token.text === ',')) && i > open) {
        if (token.start > argumentStart) argumentSpans.push([argumentStart, token.start]);
        argumentStart = token.end;
      }
    }
    if (close < 0) return undefined;
    const declaration = findFunction(key)!;
    const given = argumentSpans.map(([start, end], i) => `(${bytes.toString('utf8', start, end)})::${argumentCast(declaration.arguments[i]!.type)}`);
    const defaults = declaration.arguments.slice(given.length).map((argument) => argument.default);
    if (defaults.some((value) => value === undefined)) return undefined;
    parts.push(bytes.subarray(copied, node.location), Buffer.from(`pg_catalog.jsonb_build_array(${[...given, ...(defaults as string[])].join(', ')})`));
    copied = close + 1;
  }
  parts.push(bytes.subarray(copied));
  return Buffer.concat(parts).toString('utf8');
}
