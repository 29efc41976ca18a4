// The relations a statement defines for itself, level by level, as its parse tree writes them: what a column
// reference at some point of the statement may stand for. A FROM subquery, a CTE or a VALUES list is a query written
// in the statement, whose columns are expressions written there too; a set-returning function in FROM (unnest(…),
// json_to_record(…)) computes its columns from the arguments written in its call; a table (or view) has columns the
// statement does not write. Read by src/sql/derived-columns.ts, which follows a secret argument's columns to what
// they stand for: a key written as a constant one subquery away reaches the server's log as surely as in the call.
// The table INSERT, UPDATE or MERGE writes is such a relation where the statement reads the row it writes: in
// RETURNING (and as NEW there), and as EXCLUDED in ON CONFLICT DO UPDATE, its columns hold what the statement writes.

type Node = Record<string, any>;

/** A query written in the statement (a FROM subquery, a CTE, VALUES), its columns renamed by an alias's list. */
export interface QueryRelation {
  kind: 'query';
  name?: string;
  /** The query as parsed: a SelectStmt's body, or a data-modifying CTE's statement node. */
  query: Node;
  columnNames: string[];
  /** Where the query's own references resolve. */
  scope: Scope;
}

/** A relation whose every column is computed from what `node` writes: a function in FROM, XMLTABLE, JSON_TABLE. */
export interface ComputedRelation {
  kind: 'computed';
  name?: string;
  node: Node;
  scope: Scope;
}

export type Relation = QueryRelation | ComputedRelation | { kind: 'table'; name: string } | { kind: 'join'; name: string; members: Relation[] };

interface Cte {
  query: Node;
  columnNames: string[];
  scope: Scope;
}

export interface Scope {
  parent?: Scope;
  ctes: Map<string, Cte>;
  /** This level's FROM items, joins without an alias flattened into their members. */
  relations: Relation[];
  /** Where a data-modifying statement's RETURNING resolves: its target's columns are the row it writes. */
  returning?: Scope;
  /** Where INSERT's ON CONFLICT DO UPDATE resolves: EXCLUDED's columns are the row it inserts. */
  onConflict?: Scope;
}

/** The parse tree's fields of a statement that hold the FROM items it reads (MERGE's source among them). */
const FROM_FIELDS = ['fromClause', 'usingClause', 'sourceRelation'];
const STATEMENTS = ['SelectStmt', 'InsertStmt', 'UpdateStmt', 'DeleteStmt', 'MergeStmt'];

/**
 * The scope of what a parse tree node holds, `field` the name it has in its parent: a statement's own level when it
 * is one (a set operation's branch too, which the tree gives bare as its larg or rarg), else `scope` unchanged.
 */
export function scopeWithin(node: Node, scope: Scope | undefined, field?: string): Scope | undefined {
  if (field === 'returningClause' && scope?.returning) return scope.returning;
  if (field === 'onConflictClause' && scope?.onConflict) return scope.onConflict;
  if ((field === 'larg' || field === 'rarg') && typeof node.op === 'string') return statementScope(node, scope);
  const statement = STATEMENTS.find((type) => node[type] !== undefined);
  return statement ? statementScope(node[statement] as Node, scope, statement) : scope;
}

/** Walks a parse tree for calls, each with the scope of relations its column references resolve in. */
export function eachCall(node: unknown, onCall: (call: Node, scope: Scope | undefined) => void, scope?: Scope, field?: string): void {
  if (Array.isArray(node)) return node.forEach((item) => eachCall(item, onCall, scope));
  if (node === null || typeof node !== 'object') return;
  const inner = scopeWithin(node as Node, scope, field);
  for (const [key, value] of Object.entries(node)) {
    if (key === 'FuncCall') onCall(value as Node, inner);
    eachCall(value, onCall, inner, key);
  }
}

/**
 * The level a statement's body (a SelectStmt's, an UpdateStmt's…) defines under `parent`: its CTEs and FROM items,
 * and for a data-modifying `statement` where its RETURNING and ON CONFLICT resolve.
 */
export function statementScope(body: Node, parent: Scope | undefined, statement?: string): Scope {
  const ctes = new Map<string, Cte>();
  const scope: Scope = { parent, ctes, relations: [] };
  // What a CTE, or a FROM item other than LATERAL, reads: this level's CTEs, not its FROM items. Each CTE may read
  // the others (WITH RECURSIVE, or one written before it): over-reaching only ever follows more.
  const withoutFrom: Scope = { parent, ctes, relations: [] };
  for (const { CommonTableExpr: cte } of (body.withClause?.ctes ?? []) as Node[]) {
    ctes.set(cte.ctename, { query: cte.ctequery, columnNames: names(cte.aliascolnames), scope: withoutFrom });
  }
  // The table INSERT, UPDATE, DELETE or MERGE writes (the tree gives it bare, not as a node).
  const target = body.relation as Node | undefined;
  const targetName = target && ((target.alias?.aliasname ?? target.relname) as string);
  if (targetName) scope.relations.push({ kind: 'table', name: targetName });
  scope.relations.push(...FROM_FIELDS.flatMap((field) => [body[field] ?? []].flat()).flatMap((item: Node) => relationsOf(item, scope, withoutFrom)));
  if (!targetName) return scope;
  const inserted = statement === 'InsertStmt' ? insertedRow(body, withoutFrom) : undefined;
  if (body.onConflictClause) {
    const excluded: Relation[] = inserted ? [{ ...inserted, name: 'excluded' }] : [];
    scope.onConflict = { parent, ctes, relations: [...scope.relations, ...excluded] };
  }
  const written = writtenRow(statement, body, inserted, scope);
  if (written) {
    const asNamed = [targetName, ...newRowNames(body)].map((name): Relation => ({ ...written, name }));
    scope.returning = { parent, ctes, relations: [...asNamed, ...scope.relations.slice(1)] };
  }
  return scope;
}

/**
 * The row an INSERT writes: its VALUES rows' or SELECT's columns under the names of its column list. Without one the
 * proxy does not know the table's order of columns, so each of them stands for all its VALUES or SELECT writes.
 */
function insertedRow(body: Node, withoutFrom: Scope): Relation | undefined {
  const query = body.selectStmt as Node | undefined;
  if (!query) return undefined; // DEFAULT VALUES
  const columnNames = ((body.cols ?? []) as Node[]).map(({ ResTarget }) => ResTarget.name as string);
  return columnNames.length > 0 ? { kind: 'query', query, columnNames, scope: withoutFrom } : { kind: 'computed', node: query, scope: withoutFrom };
}

/** What RETURNING reads as the target's row: what the statement inserts or SETs; undefined where it is the table's. */
function writtenRow(statement: string | undefined, body: Node, inserted: Relation | undefined, scope: Scope): Relation | undefined {
  if (statement === 'UpdateStmt') return assigned(body.targetList, scope);
  if (statement === 'MergeStmt') {
    // Any of the actions' rows: each INSERT's VALUES and UPDATE's SET, whatever the column.
    const written = ((body.mergeWhenClauses ?? []) as Node[]).flatMap(({ MergeWhenClause: action }) => [action.targetList ?? [], action.values ?? []]);
    return { kind: 'computed', node: { List: { items: written.flat() } }, scope };
  }
  if (statement !== 'InsertStmt') return undefined;
  // ON CONFLICT DO UPDATE returns either the row inserted or the existing one with its SET columns updated.
  const update = body.onConflictClause?.targetList as Node[] | undefined;
  const rows = [inserted, update && assigned(update, scope.onConflict!)].filter((row): row is Relation => row !== undefined);
  return rows.length > 1 ? { kind: 'join', name: '', members: rows } : rows[0];
}

/** The columns a SET list assigns, each standing for its expression: a select list of them under the columns' names. */
function assigned(setList: Node[], scope: Scope): Relation {
  return { kind: 'query', query: { SelectStmt: { op: 'SETOP_NONE', targetList: setList } }, columnNames: [], scope };
}

/** PostgreSQL 18's RETURNING names the written row NEW too, or what `RETURNING WITH (NEW AS …)` says (OLD is the table's). */
function newRowNames(body: Node): string[] {
  const options = ((body.returningClause?.options ?? []) as Node[]).map(({ ReturningOption }) => ReturningOption as Node);
  return ['new', ...options.filter(({ option }) => option === 'RETURNING_OPTION_NEW').map(({ value }) => value as string)];
}

/** A FROM item's relations: one, or a join's members when it has no alias. */
function relationsOf(item: Node, level: Scope, withoutFrom: Scope): Relation[] {
  if (item.JoinExpr) {
    const { larg, rarg, alias } = item.JoinExpr as Node;
    const members = [larg, rarg].flatMap((side: Node) => relationsOf(side, level, withoutFrom));
    return alias ? [{ kind: 'join', name: alias.aliasname, members }] : members;
  }
  if (item.RangeTableSample) return relationsOf(item.RangeTableSample.relation, level, withoutFrom);
  if (item.RangeVar) return [rangeVarRelation(item.RangeVar as Node, level)];
  const [type, body] = Object.entries(item)[0] as [string, Node];
  const alias = body.alias as Node | undefined;
  // A LATERAL item reads the items before it; another, only CTEs and enclosing levels.
  const scope = body.lateral ? level : withoutFrom;
  if (type === 'RangeSubselect') return [{ kind: 'query', name: alias?.aliasname, query: body.subquery, columnNames: names(alias?.colnames), scope }];
  // Without an alias, a single function's relation takes the function's name.
  const functionName = (body.functions?.[0]?.List?.items?.[0]?.FuncCall?.funcname as Node[] | undefined)?.at(-1)?.String?.sval;
  return [{ kind: 'computed', name: alias?.aliasname ?? functionName, node: item, scope }];
}

/** A name in FROM: a CTE when one of that name is visible and the name is not schema-qualified, else a table or view. */
function rangeVarRelation(rangeVar: Node, level: Scope): Relation {
  const name = (rangeVar.alias?.aliasname ?? rangeVar.relname) as string;
  const cte = rangeVar.schemaname === undefined ? visibleCte(rangeVar.relname, level) : undefined;
  if (!cte) return { kind: 'table', name };
  const aliased = names(rangeVar.alias?.colnames);
  return { kind: 'query', name, query: cte.query, columnNames: [...aliased, ...cte.columnNames.slice(aliased.length)], scope: cte.scope };
}

function visibleCte(name: string, scope: Scope | undefined): Cte | undefined {
  for (let level = scope; level; level = level.parent) {
    const cte = level.ctes.get(name);
    if (cte) return cte;
  }
  return undefined;
}

/** A list of String nodes' values (an alias's column names). */
export function names(list: Node[] | undefined): string[] {
  return (list ?? []).map((item) => item.String?.sval as string);
}
