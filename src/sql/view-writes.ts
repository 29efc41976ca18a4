// A write to an automatically updatable view is PostgreSQL's write to the one relation the view selects from (a
// table, or a view written through in turn), whose defaults, identity columns, triggers, rules and cascades then run
// as for a direct write. src/sql/function-check.ts follows a written view's query (as pg_get_viewdef gives it) here.

import type { RelationReference } from './references.js';

type Tree = Record<string, unknown>;

/**
 * The relation a write through a view writes in turn: the one its query selects from, given the columns the view's
 * given columns name as they are (a column computed from an expression cannot be written, so its base columns take
 * their defaults). None when the query selects from anything but one relation: PostgreSQL does not write through such
 * a view on its own, only its INSTEAD OF triggers and rules do, which are followed as the view's own. A view that has
 * those as well as one relation is taken as written through all the same, which may refuse a write that would run.
 */
export function writtenThrough(view: unknown[], given: string[] | undefined): RelationReference[] {
  return view.flatMap((node) => {
    const select = (node as Tree).SelectStmt as Tree | undefined;
    const from = select?.fromClause as Tree[] | undefined;
    const base = from?.length === 1 ? (from[0]!.RangeVar as Tree | undefined) : undefined;
    if (!base) return [];
    const name = typeof base.schemaname === 'string' ? { schema: base.schemaname, name: base.relname as string } : { name: base.relname as string };
    if (given === undefined) return [{ ...name, target: true }];
    const columns = ((select!.targetList as Tree[] | undefined) ?? []).flatMap((target) => plainColumn(target.ResTarget as Tree) ?? []);
    return [{ ...name, target: true, given: columns.filter(({ view }) => given.includes(view)).map(({ base }) => base) }];
  });
}

/** A column of the view that is a column of its relation as it is: both names. */
function plainColumn(target: Tree): { view: string; base: string } | undefined {
  const reference = (target.val as Tree).ColumnRef as Tree | undefined;
  const field = ((reference?.fields as Tree[] | undefined) ?? []).at(-1)?.String as { sval: string } | undefined;
  return field && { view: (target.name as string | undefined) ?? field.sval, base: field.sval };
}
