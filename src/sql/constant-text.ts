// The text an expression of the parse tree stands for when the statement writes it out: a string literal, a cast of
// one or a collation given it, or such texts joined by ||, as set_config's setting name may be written. Anything computed (a function, a
// column, a parameter) is not known until the server runs it.

/** An expression node of libpg-query's tree, as far as constant text is concerned. */
export interface Expression {
  A_Const?: { sval?: { sval: string }; isnull?: boolean; location: number };
  TypeCast?: { arg?: Expression };
  CollateClause?: { arg?: Expression };
  A_Expr?: { kind?: string; name?: Array<{ String?: { sval: string } }>; lexpr?: Expression; rexpr?: Expression };
}

/** The expression under its casts and collations. */
export function uncast(expression: Expression | undefined): Expression | undefined {
  const wrapped = expression?.TypeCast ?? expression?.CollateClause;
  return wrapped ? uncast(wrapped.arg) : expression;
}

/** The text a constant expression stands for; undefined for one computed from anything but literals. */
export function constantText(expression: Expression | undefined): string | undefined {
  const node = uncast(expression);
  if (node?.A_Const) return node.A_Const.sval?.sval;
  const operation = node?.A_Expr;
  if (operation?.kind !== 'AEXPR_OP' || operation.name?.at(-1)?.String?.sval !== '||') return undefined;
  const [left, right] = [constantText(operation.lexpr), constantText(operation.rexpr)];
  return left === undefined || right === undefined ? undefined : left + right;
}
