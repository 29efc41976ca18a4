// A call of the proxy's with an argument no overload declares: a name none has (api_kye => …), or more arguments
// than any takes. The server finds no such function (42883), but only after it has the statement, which its log keeps
// as written, a key given in that argument with it; nor does the proxy know to hold such an argument back. So where
// that argument could be a key (a string constant as long as one, or a bound parameter) the proxy answers first.

import type { FunctionDeclaration } from '../../functions/declaration.js';
import { qualifiedName } from '../../functions/registry.js';
import { PgError } from '../../proxy/pg-error.js';
import { uncast, writtenString } from './computed-secrets.js';
import { KEY_LIKE_LENGTH } from './computed-setting-names.js';
import { declaredArguments } from './declared-arguments.js';
import { eachCall } from './statement-scopes.js';

type Node = Record<string, any>;

/** Refuses a statement's call of the proxy's functions that gives, in an argument none of its overloads declares, what could be a key. */
export function refuseUndeclaredArguments(statement: unknown): void {
  eachCall(statement, (call) => {
    const { declarations, arguments: found } = declaredArguments(call);
    if (declarations.length === 0 || declarations.some(takesAnyNumber)) return;
    const index = found.findIndex(({ declared, expression }) => declared === undefined && couldBeKey(expression));
    if (index < 0) return;
    const argument = (call.args as Node[])[index]!;
    const name = qualifiedName(declarations[0]!);
    const what = argument.NamedArgExpr ? `no argument named ${argument.NamedArgExpr.name}` : `no more than ${Math.max(...declarations.map((declaration) => declaration.arguments.length))} arguments`;
    throw new PgError('42883', `function ${name} has ${what}`, {
      hint: `Its arguments: ${[...new Set(declarations.flatMap((declaration) => declaration.arguments.map((declared) => declared.name)))].join(', ')}.`,
    });
  });
}

function takesAnyNumber(declaration: FunctionDeclaration): boolean {
  return declaration.arguments.at(-1)?.variadic === true;
}

function couldBeKey(expression: Node): boolean {
  const node = uncast(expression);
  return node.ParamRef !== undefined || (writtenString(node)?.length ?? 0) >= KEY_LIKE_LENGTH;
}
