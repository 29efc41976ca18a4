// A secret argument's expression with the columns it reads of relations the statement writes itself (a FROM
// subquery, a CTE at any level of WITH, a VALUES list, a function in FROM, the row an INSERT, UPDATE or MERGE writes
// read back in RETURNING or as EXCLUDED; through joins, LATERAL and nesting)
// replaced by the expressions they stand for, followed down: `s.key … FROM (SELECT 'sk-…'::text AS key) s` reads
// 'sk-…'::text. The server's log keeps that constant wherever the statement writes it, so src/sql/secret-literals.ts
// judges a secret argument by what its columns stand for. A table's (or view's) column stays a column.
// Where a column cannot be told precisely, it stands for all the query that defines it writes: a set operation whose
// names may include it (UNION, a recursive CTE), a data-modifying CTE's RETURNING, XMLTABLE or JSON_TABLE; renamed by
// position past a star, any column of its select list. Several candidates (the rows of VALUES, a name more than one
// relation has) stand together as one coalesce.

import { PgError } from '../../proxy/pg-error.js';
import { names, scopeWithin, statementScope, type QueryRelation, type Relation, type Scope } from './statement-scopes.js';

type Node = Record<string, any>;

/**
 * The most columns followed for one argument. Each CTE reading the one before it twice doubles the paths to a
 * constant: an argument that reaches this many is refused (with no secret quoted) rather than followed on, which
 * took some 10 ms of analysis on a busy 2-core host (at 1,000, some 35 ms, on the event loop for a short statement).
 */
const MAX_COLUMNS_FOLLOWED = 200;

/** `expression` with the columns of relations the statement writes replaced, followed down; itself when it reads none. */
export function withDerivedColumns(expression: Node, scope: Scope | undefined, argument: string): Node {
  return new ColumnFollower(argument).inlined(expression, scope) as Node;
}

class ColumnFollower {
  private followed = 0;
  /** The queries (and computed FROM items) being followed: a recursive CTE reads itself. */
  private readonly inProgress = new Set<Node>();

  constructor(private readonly argument: string) {}

  /** A node with its columns replaced, copied only where something was: the same object when nothing was. */
  inlined(node: unknown, scope: Scope | undefined, field?: string): unknown {
    if (Array.isArray(node)) {
      const items = node.map((item) => this.inlined(item, scope));
      return items.some((item, i) => item !== node[i]) ? items : node;
    }
    if (node === null || typeof node !== 'object') return node;
    const tree = node as Node;
    if (tree.ColumnRef) return this.standsFor(tree.ColumnRef.fields as Node[], scope) ?? node;
    const inner = scopeWithin(tree, scope, field);
    let changed = false;
    const copy = Object.fromEntries(
      Object.entries(tree).map(([key, value]) => {
        const replaced = this.inlined(value, inner, key);
        changed ||= replaced !== value;
        return [key, replaced];
      }),
    );
    return changed ? copy : node;
  }

  /** What a column reference stands for; undefined for a table's column, a star, or a name nothing here defines. */
  private standsFor(fields: Node[], scope: Scope | undefined): Node | undefined {
    if (fields.some((field) => field.A_Star)) return undefined;
    const [first, second] = names(fields);
    if (second !== undefined) {
      const relation = named(first!, scope);
      return relation && this.column(relation, second);
    }
    // A name no relation has as a column is a relation's whole row (s::text).
    return this.unqualified(first!, scope) ?? this.wholeRow(named(first!, scope));
  }

  /** An unqualified column: of the innermost level where a relation the statement writes has it. */
  private unqualified(column: string, scope: Scope | undefined): Node | undefined {
    for (let level = scope; level; level = level.parent) {
      const found = level.relations.map((relation) => this.column(relation, column)).filter((node) => node !== undefined);
      if (found.length > 0) return together(found);
    }
    return undefined;
  }

  private column(relation: Relation, column: string): Node | undefined {
    switch (relation.kind) {
      case 'table':
        return undefined;
      case 'join':
        return together(relation.members.map((member) => this.column(member, column)).filter((node) => node !== undefined));
      case 'computed':
        return this.following(relation.node, () => this.inlined(relation.node, relation.scope) as Node);
      case 'query':
        return this.following(relation.query, () => this.queryColumn(relation, column));
    }
  }

  private wholeRow(relation: Relation | undefined): Node | undefined {
    if (!relation || relation.kind === 'table') return undefined;
    if (relation.kind === 'join') return together(relation.members.map((member) => this.wholeRow(member)).filter((node) => node !== undefined));
    const defining = relation.kind === 'query' ? relation.query : relation.node;
    return this.following(defining, () => this.inlined(defining, relation.scope) as Node);
  }

  /** A column of a query written in the statement: the expressions of its select list or VALUES rows under that name. */
  private queryColumn({ query, columnNames, scope }: QueryRelation, column: string): Node | undefined {
    const body = query.SelectStmt as Node | undefined;
    if (!body) return this.inlined(query, scope) as Node;
    if (body.op !== 'SETOP_NONE') return mayHave(body, columnNames, column) ? (this.inlined(query, scope) as Node) : undefined;
    const own = statementScope(body, scope);
    if (body.valuesLists) {
      const rows = (body.valuesLists as Node[]).map(({ List }) => (List.items ?? []) as Node[]);
      const index = rows[0]!.findIndex((_, i) => (columnNames[i] ?? `column${i + 1}`) === column);
      return index < 0 ? undefined : together(rows.map((row) => this.inlined(row[index], own) as Node));
    }
    const targets = selectList(body);
    // Renamed by position past a star, the column may be any of the list's: a star's, any of its relations' columns.
    const renamedPastStar = columnNames.length > 0 && targets.some(({ val }) => isStar(val));
    const found = targets.flatMap(({ name, val }, i): Array<Node | undefined> => {
      if (isStar(val)) {
        const qualifier = (val.ColumnRef.fields as Node[]).slice(0, -1);
        if (!renamedPastStar) return [this.standsFor([...qualifier, { String: { sval: column } }], own)];
        const [relation] = names(qualifier);
        return relation === undefined ? own.relations.map((member) => this.wholeRow(member)) : [this.wholeRow(named(relation, own))];
      }
      const output = renamedPastStar ? undefined : (columnNames[i] ?? name ?? outputName(val));
      return output === undefined || output === column ? [this.inlined(val, own) as Node] : [];
    });
    return together(found.filter((node) => node !== undefined));
  }

  private following(defining: Node, follow: () => Node | undefined): Node | undefined {
    if (this.inProgress.has(defining)) return undefined;
    if (++this.followed > MAX_COLUMNS_FOLLOWED) {
      throw new PgError('54001', `${this.argument} reads too many columns of subqueries, CTEs or VALUES lists to follow`, {
        hint: 'Pass it as a parameter, or write it in the call as a single string constant.',
      });
    }
    this.inProgress.add(defining);
    try {
      return follow();
    } finally {
      this.inProgress.delete(defining);
    }
  }
}

/** The relation a qualified name's first part names: at the innermost level that has one by that name. */
function named(name: string, scope: Scope | undefined): Relation | undefined {
  for (let level = scope; level; level = level.parent) {
    const relation = level.relations.find((candidate) => candidate.name === name);
    if (relation) return relation;
  }
  return undefined;
}

function selectList(body: Node): Node[] {
  return ((body.targetList ?? []) as Node[]).map(({ ResTarget }) => ResTarget as Node);
}

/** Whether a set operation may have the column: its names are its first branch's, renamed by an alias's list. */
function mayHave(setOperation: Node, columnNames: string[], column: string): boolean {
  let first = setOperation;
  while (first.op !== 'SETOP_NONE') first = first.larg as Node;
  const written: Array<string | undefined> = first.valuesLists
    ? (first.valuesLists[0].List.items as Node[]).map((_, i) => `column${i + 1}`)
    : selectList(first).map(({ name, val }) => (isStar(val) ? undefined : (name ?? outputName(val))));
  const outputs = written.map((name, i) => columnNames[i] ?? name);
  // A star in the first branch, or an expression not named here: any name.
  return columnNames.includes(column) || outputs.some((output) => output === undefined || output === column);
}

function together(nodes: Node[]): Node | undefined {
  return nodes.length <= 1 ? nodes[0] : { CoalesceExpr: { args: nodes } };
}

function isStar(node: Node): boolean {
  return (node.ColumnRef?.fields as Node[] | undefined)?.at(-1)?.A_Star !== undefined;
}

const UNNAMED = '?column?';
const NAMED_AFTER = { CaseExpr: 'case', CoalesceExpr: 'coalesce', A_ArrayExpr: 'array' } as Record<string, string>;

/**
 * The name PostgreSQL gives a select list's expression written without AS (parse_target.c, FigureColname), for the
 * expressions a secret could be: undefined where the proxy does not tell, which then matches any name.
 */
function outputName(node: Node): string | undefined {
  const [type, body] = Object.entries(node)[0] as [string, Node];
  if (type === 'ColumnRef' || type === 'FuncCall') return names([(type === 'ColumnRef' ? body.fields : body.funcname).at(-1)])[0];
  if (type === 'CollateClause') return outputName(body.arg);
  if (type === 'TypeCast') {
    const inner = outputName(body.arg);
    return inner === UNNAMED ? names([body.typeName.names.at(-1)])[0] : inner;
  }
  if (type === 'A_Const' || type === 'A_Expr' || type === 'BoolExpr' || type === 'ParamRef') return UNNAMED;
  return NAMED_AFTER[type];
}
