// The arguments of a call of an intercepted function, each with its declaration (functions/declaration.ts), as the
// parse tree gives them: positional or named. Overloads agree on which arguments are secret or SQL
// (functions/registry.ts), so the first overload that has an argument of that position or name says.

import type { ArgumentDeclaration, FunctionDeclaration, Signature } from '../../functions/declaration.js';
import { functionsCalled } from '../../functions/registry.js';

type Node = Record<string, any>;

export interface DeclaredArgument {
  declared: ArgumentDeclaration | undefined;
  /** The argument's expression (a named argument's value). */
  expression: Node;
}

interface Found<D extends Signature> {
  declarations: D[];
  arguments: DeclaredArgument[];
}

/**
 * The intercepted functions a FuncCall node may reach (none: not one of the proxy's), and its arguments; or the
 * functions `resolve` finds (the SQL functions of the proxy's extensions: registry's sqlFunctionsCalled).
 */
export function declaredArguments(call: Node): Found<FunctionDeclaration>;
export function declaredArguments<D extends Signature>(call: Node, resolve: (parts: readonly string[]) => D[]): Found<D>;
export function declaredArguments(call: Node, resolve: (parts: readonly string[]) => Signature[] = functionsCalled): Found<Signature> {
  const declarations = resolve((call.funcname ?? []).map((part: Node) => part.String?.sval ?? ''));
  if (declarations.length === 0) return { declarations, arguments: [] };
  const found = ((call.args as Node[] | undefined) ?? []).map((argument, position): DeclaredArgument => {
    const named = argument.NamedArgExpr as Node | undefined;
    const declared = declarations
      .map((declaration) => (named ? declaration.arguments.find((candidate) => candidate.name === named.name) : declaration.arguments[position]))
      .find((candidate) => candidate !== undefined);
    return { declared, expression: (named ? named.arg : argument) as Node };
  });
  return { declarations, arguments: found };
}
