// The one place a SQL function's shape is written down: name, arguments (with SQL defaults), result, strictness.
// The upstream stubs, the answers to Describe and the decoding of arguments are all derived from it.

export interface ArgumentDeclaration {
  name: string;
  /** A PostgreSQL type name as it would appear in CREATE FUNCTION: text, jsonb, integer, text[]… */
  type: string;
  /** A SQL expression; arguments with a default may be omitted by the caller. */
  default?: string;
}

export interface ColumnDeclaration {
  name: string;
  type: string;
}

export type ResultDeclaration = { kind: 'scalar'; type: string } | { kind: 'table'; columns: ColumnDeclaration[] };

export interface FunctionDeclaration {
  name: string;
  arguments: ArgumentDeclaration[];
  result: ResultDeclaration;
  /** STRICT: any NULL argument makes the result NULL (or no rows) without running the function. */
  strict: boolean;
  /** One line for \df+ and the docs. */
  description: string;
}

/** Validates a declaration once, when its module loads, so a typo fails at start-up rather than at a call. */
export function declareFunction(declaration: FunctionDeclaration): FunctionDeclaration {
  const identifier = /^[a-z_][a-z0-9_]*$/;
  const names = [declaration.name, ...declaration.arguments.map((argument) => argument.name)];
  if (declaration.result.kind === 'table') names.push(...declaration.result.columns.map((column) => column.name));
  for (const name of names) if (!identifier.test(name)) throw new Error(`${declaration.name}: "${name}" is not a plain SQL identifier`);
  let defaultsStarted = false;
  for (const argument of declaration.arguments) {
    if (argument.default !== undefined) defaultsStarted = true;
    else if (defaultsStarted) throw new Error(`${declaration.name}: ${argument.name} needs a default, as the arguments before it have one`);
  }
  return declaration;
}
