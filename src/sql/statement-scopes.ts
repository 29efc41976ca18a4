// The relations a statement defines for itself, level by level, as its parse tree writes them: what a column
// reference at some point of the statement may stand for. A FROM subquery, a CTE or a VALUES list is a query written
// in the statement, whose columns are expressions written there too; a set-returning function in FROM (unnest(…),
// json_to_record(…)) computes its columns from the arguments written in its call; a table (or view) has columns the
// statement does not write. Read by src/sql/derived-columns.ts, which follows a secret argument's columns to what
// they stand for: a key written as a constant one subquery away reaches the server's log as surely as in the call.

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
}

/** The parse tree's fields of a statement that hold the FROM items it reads (MERGE's source among them). */
const FROM_FIELDS = ['fromClause', 'usingClause', 'sourceRelation'];
const STATEMENTS = ['SelectStmt', 'InsertStmt', 'UpdateStmt', 'DeleteStmt', 'MergeStmt'];

/**
 * The scope of what a parse tree node holds, `field` the name it has in its parent: a statement's own level when it
 * is one (a set operation's branch too, which the tree gives bare as its larg or rarg), else `scope` unchanged.
 */
export function scopeWithin(node: Node, scope: Scope | undefined, field?: string): Scope | undefined {
  if ((field === 'larg' || field === 'rarg') && typeof node.op === 'string') return statementScope(node, scope);
  const statement = STATEMENTS.find((type) => node[type] !== undefined);
  return statement ? statementScope(node[statement] as Node, scope) : scope;
}

/** The level a statement's body (a SelectStmt's, an UpdateStmt's…) defines under `parent`: its CTEs and FROM items. */
export function statementScope(body: Node, parent: Scope | undefined): Scope {
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
  if (target) scope.relations.push({ kind: 'table', name: target.alias?.aliasname ?? target.relname });
  scope.relations.push(...FROM_FIELDS.flatMap((field) => [body[field] ?? []].flat()).flatMap((item: Node) => relationsOf(item, scope, withoutFrom)));
  return scope;
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
