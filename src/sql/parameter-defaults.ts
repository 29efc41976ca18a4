// A routine's parameter whose DEFAULT writes out a string constant (f(k text DEFAULT 'sk-…')) holds that constant in
// its body as a variable assigned it would (code-sql.ts): a call that gives a secret argument the parameter, by its
// name, its number ($1) or an alias of it, takes the key, which pg_proc keeps for every role to read
// (pg_get_expr(proargdefaults)) and the server logs with the statement that creates the routine.

import { writesOutSecret } from './computed-secrets.js';

type Node = Record<string, any>;

/** Modes of parameters a SQL body's $n does not count: PL/pgSQL's counts every parameter, SQL's only its inputs. */
const OUTPUTS = new Set(['FUNC_PARAM_OUT', 'FUNC_PARAM_TABLE']);

/** The names (its own and $n, either count) of each parameter of a CREATE FUNCTION or PROCEDURE whose DEFAULT writes out a string constant. */
export function parametersGivenConstants(routine: Node | undefined): string[] {
  const parameters = ((routine?.parameters ?? []) as Node[]).map(({ FunctionParameter }) => FunctionParameter as Node);
  let inputs = 0;
  return parameters.flatMap(({ name, defexpr, mode }, index) => {
    if (!OUTPUTS.has(mode)) inputs++;
    if (!defexpr || !writesOutSecret(defexpr as Node, 'key')) return [];
    return [`$${index + 1}`, `$${inputs}`, ...(name === undefined ? [] : [name as string])];
  });
}

/** The routine's own name, which qualifies its parameters in its body (f.k). */
export function routineName(routine: Node | undefined): string[] {
  const name = (routine?.funcname as Node[] | undefined)?.at(-1)?.String?.sval as string | undefined;
  return name === undefined ? [] : [name];
}
