// A routine's parameter whose DEFAULT writes out a string constant (f(k text DEFAULT 'sk-…')) holds that constant in
// its body as a variable assigned it would (code-sql.ts): a call that gives a secret argument the parameter, by its
// name, its number ($1) or an alias of it, takes the key, which pg_proc keeps for every role to read
// (pg_get_expr(proargdefaults)) and the server logs with the statement that creates the routine.

import { writesOutSecret } from './computed-secrets.js';

type Node = Record<string, any>;

/** The names (its own and $n) of each parameter of a CREATE FUNCTION or PROCEDURE whose DEFAULT writes out a string constant. */
export function parametersGivenConstants(routine: Node | undefined): string[] {
  const parameters = ((routine?.parameters ?? []) as Node[]).map(({ FunctionParameter }) => FunctionParameter as Node);
  return parameters.flatMap(({ name, defexpr }, index) =>
    defexpr && writesOutSecret(defexpr as Node, 'key') ? [`$${index + 1}`, ...(name === undefined ? [] : [name as string])] : [],
  );
}

/** The routine's own name, which qualifies its parameters in its body (f.k). */
export function routineName(routine: Node | undefined): string[] {
  const name = (routine?.funcname as Node[] | undefined)?.at(-1)?.String?.sval as string | undefined;
  return name === undefined ? [] : [name];
}
