// The names in a statement's parse tree through which it can run code: functions called (also in attribute
// notation, `t.f` for `f(t)`), operators, types named (casts, column definition lists, XMLTABLE and JSON_TABLE
// columns: a value coerced to a domain runs its CHECK), relations read (a view runs its own functions, a policy its
// expressions) and tables written (their defaults, identity columns, triggers and rules run). Only names: src/sql/function-check.ts resolves
// them in the catalog, every candidate the caller's search_path could reach.

export interface QualifiedName {
  /** Absent when the caller's search_path decides. */
  schema?: string;
  name: string;
}

export interface RelationReference extends QualifiedName {
  /** Written by INSERT, UPDATE, DELETE or MERGE. */
  target: boolean;
  /** Columns whose defaults the write cannot evaluate (given explicitly); undefined when it evaluates none. */
  given?: string[];
}

export interface References {
  functions: QualifiedName[];
  /** `x.f`: a call of a one-argument function f when x has no column f. */
  attributeFunctions: QualifiedName[];
  operators: QualifiedName[];
  types: QualifiedName[];
  relations: RelationReference[];
}

/**
 * The operators a statement uses without naming them: `=` for CASE x WHEN, JOIN USING (or NATURAL) and
 * `x IN (subquery)` (also as pg_get_viewdef prints a view's `= ANY (subquery)`), and the `<>`
 * a recursive query's CYCLE clause compares its mark with (looked up by name, through the search_path), added only
 * where they are, since every candidate in the caller's search_path is judged: another role's public.=(text, text)
 * would otherwise refuse every statement, a plain SELECT 1 included (IN lists, NULLIF and IS DISTINCT FROM name
 * theirs in the tree). The order, grouping and DISTINCT operators come from operator classes, which only a
 * superuser can create.
 */
const IMPLICIT_EQUALS = { name: '=' };
const CYCLE_NOT_EQUALS = { name: '<>' };
/** BETWEEN (and NOT, SYMMETRIC) is a pair of comparisons. */
const BETWEEN_OPERATORS = ['<', '<=', '>', '>='];
const WRITES = ['InsertStmt', 'UpdateStmt', 'DeleteStmt', 'MergeStmt'];
/**
 * Syntax of the parser here (PostgreSQL 18's) that a server before PostgreSQL 16 (17 for merge_action) parses as a
 * call of the function so named, resolved through the search_path: there, `json_array(a, b)` is whatever
 * json_array(int, int) the caller's search_path finds, another role's included; and with no such function, a cast to
 * the type so named, whose domain CHECK runs (review K2).
 */
const CALLS_BEFORE_SQL_JSON: Record<string, string> = {
  JsonArrayConstructor: 'json_array',
  JsonArrayQueryConstructor: 'json_array',
  JsonObjectConstructor: 'json_object',
  JsonScalarExpr: 'json_scalar',
  JsonParseExpr: 'json',
  JsonSerializeExpr: 'json_serialize',
  JsonArrayAgg: 'json_arrayagg',
  JsonObjectAgg: 'json_objectagg',
  JsonTable: 'json_table',
  MergeSupportFunc: 'merge_action',
};

type Tree = Record<string, unknown>;

export function referencesOf(node: unknown): References {
  const found: References = { functions: [], attributeFunctions: [], operators: [], types: [], relations: [] };
  walk(node, (type, body) => {
    const typeName = type === 'TypeName' ? body : (body.typeName as Tree | undefined);
    if (typeName?.names) found.types.push(...typeNames(qualified(typeName.names)));
    if (type === 'FuncCall') {
      const name = qualified(body.funcname);
      found.functions.push(name);
      // `int4(x)` may be a cast written as a call.
      found.types.push(name);
      // The parser here writes the old json_object(…) as pg_catalog's; a server before PostgreSQL 16 looks it up.
      if (name.schema === 'pg_catalog' && name.name === 'json_object') {
        found.functions.push({ name: name.name });
        found.types.push({ name: name.name });
      }
    } else if (CALLS_BEFORE_SQL_JSON[type] || type === 'JsonFuncExpr') {
      const name = { name: CALLS_BEFORE_SQL_JSON[type] ?? String(body.op).replace(/_OP$/, '').toLowerCase() };
      found.functions.push(name);
      found.types.push(name);
    } else if (type === 'A_Expr') {
      const operator = qualified(body.name);
      const between = String(body.kind).startsWith('AEXPR_BETWEEN') || String(body.kind).startsWith('AEXPR_NOT_BETWEEN');
      found.operators.push(...(between ? BETWEEN_OPERATORS.map((name) => ({ name })) : [operator]));
    } else if (type === 'SubLink' && (body.operName || body.subLinkType === 'ANY_SUBLINK')) {
      // `x IN (SELECT …)`, NOT IN and row-wise `(a, b) IN`, names no operator: it is `= ANY`.
      found.operators.push(body.operName ? qualified(body.operName) : IMPLICIT_EQUALS);
    } else if ((type === 'CaseExpr' && body.arg) || (type === 'JoinExpr' && (body.usingClause || body.isNatural))) {
      found.operators.push(IMPLICIT_EQUALS);
    } else if (type === 'CommonTableExpr' && body.cycle_clause) {
      found.operators.push(CYCLE_NOT_EQUALS);
    } else if (type === 'SortBy' && body.useOp) {
      found.operators.push(qualified(body.useOp));
    } else if (type === 'ColumnRef' || type === 'A_Indirection') {
      const fields = strings(type === 'ColumnRef' ? body.fields : body.indirection);
      if (fields.length > (type === 'ColumnRef' ? 1 : 0)) found.attributeFunctions.push({ name: fields.at(-1)! });
    } else if (WRITES.includes(type)) {
      // The target is a bare range variable, not a RangeVar node.
      found.relations.push({ ...relationName(body.relation as Tree), target: true, given: givenColumns(type, body) });
    } else if (type === 'RangeVar') {
      found.relations.push({ ...relationName(body), target: false });
    }
  });
  return found;
}

/**
 * A type name as the server may read it: the parser here writes `json` as pg_catalog's (a keyword since PostgreSQL
 * 16), where an older server looks the name up through the search_path, another role's domain json included.
 */
function typeNames(name: QualifiedName): QualifiedName[] {
  return name.schema === 'pg_catalog' && name.name === 'json' ? [name, { name: name.name }] : [name];
}

/** Calls `visit` for every node, outermost first: the node's type (FuncCall, RangeVar…) and its fields. */
export function walk(node: unknown, visit: (type: string, body: Tree) => void): void {
  if (Array.isArray(node)) {
    for (const item of node) walk(item, visit);
    return;
  }
  if (node === null || typeof node !== 'object') return;
  for (const [key, value] of Object.entries(node)) {
    if (/^[A-Z]/.test(key) && value !== null && typeof value === 'object' && !Array.isArray(value)) visit(key, value as Tree);
    walk(value, visit);
  }
}

/**
 * The columns an INSERT gives values for (all others take their defaults); none for an UPDATE, unless it sets a
 * column to DEFAULT; none for MERGE, whose INSERT actions are not followed column by column.
 */
function givenColumns(type: string, body: Tree): string[] | undefined {
  if (type === 'DeleteStmt') return undefined;
  const setsDefault = JSON.stringify(body).includes('"SetToDefault"');
  if (type === 'UpdateStmt') return setsDefault ? [] : undefined;
  if (type === 'MergeStmt' || setsDefault) return [];
  return ((body.cols as Tree[] | undefined) ?? []).map((column) => (column.ResTarget as Tree).name as string);
}

/** A name list (funcname, operator name, type names): its last two parts are the schema and the name. */
function qualified(list: unknown): QualifiedName {
  const parts = strings(list);
  const name = parts.at(-1)!;
  return parts.length > 1 ? { schema: parts.at(-2)!, name } : { name };
}

function relationName(relation: Tree): QualifiedName {
  const name = relation.relname as string;
  return typeof relation.schemaname === 'string' ? { schema: relation.schemaname, name } : { name };
}

function strings(list: unknown): string[] {
  return ((list as Tree[] | undefined) ?? []).flatMap((item) => (item.String ? [(item.String as { sval: string }).sval] : []));
}
