// The upstream stub of each intercepted function, generated from its declaration. Through the proxy the call never
// reaches the stub; the stub exists so that \df, Describe, overload resolution and "function does not exist"
// come from PostgreSQL itself, and so that a call that bypasses the proxy fails with a clear hint.

import type { FunctionDeclaration } from '../../functions/declaration.js';

export const STUB_SQLSTATE = '0A000';

export function stubSql(declaration: FunctionDeclaration): string {
  const name = `public.${declaration.name}`;
  const parameters = declaration.arguments
    .map((argument) => `${argument.name} ${argument.type}${argument.default !== undefined ? ` DEFAULT ${argument.default}` : ''}`)
    .join(', ');
  const result =
    declaration.result.kind === 'scalar'
      ? declaration.result.type
      : `TABLE(${declaration.result.columns.map((column) => `${column.name} ${column.type}`).join(', ')})`;
  const message = `${declaration.name}() runs in pg_llm proxy and cannot run inside the database`;
  const hint =
    'Connect to the pg_llm proxy port instead of the database port. Calls from views, functions, triggers or direct connections cannot reach the proxy.';
  const signature = `${name}(${declaration.arguments.map((argument) => argument.type).join(', ')})`;
  return [
    `CREATE OR REPLACE FUNCTION ${name}(${parameters})`,
    `RETURNS ${result}`,
    `LANGUAGE plpgsql VOLATILE${declaration.strict ? ' STRICT' : ''}`,
    `AS $stub$`,
    `BEGIN`,
    `  RAISE EXCEPTION USING ERRCODE = '${STUB_SQLSTATE}', MESSAGE = ${literal(message)}, HINT = ${literal(hint)};`,
    `END`,
    `$stub$;`,
    `COMMENT ON FUNCTION ${signature} IS ${literal(declaration.description)};`,
  ].join('\n');
}

function literal(text: string): string {
  return `'${text.replace(/'/g, "''")}'`;
}
