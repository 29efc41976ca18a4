// The arguments of a call of an intercepted function, each with its declaration (functions/declaration.ts), as the
// parse tree gives them: positional or named. Overloads agree on which arguments are secret or SQL
// (functions/registry.ts), so the first overload that has an argument of that position or name says.

import type { ArgumentDeclaration, FunctionDeclaration } from '../../functions/declaration.js';
import { functionsCalled } from '../../functions/registry.js';

type Node = Record<string, any>;

export interface DeclaredArgument {
  declared: ArgumentDeclaration | undefined;
  /** The argument's expression (a named argument's value). */
  expression: Node;
}

/** The intercepted functions a FuncCall node may reach (none: not one of the proxy's), and its arguments. */
export function declaredArguments(call: Node): { declarations: FunctionDeclaration[]; arguments: DeclaredArgument[] } {
  const declarations = functionsCalled((call.funcname ?? []).map((part: Node) => part.String?.sval ?? ''));
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
