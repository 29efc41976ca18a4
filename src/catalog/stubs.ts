// The upstream stub of each intercepted function, generated from its declaration. The stubs give PostgreSQL the
// exact signatures, so \df, Describe, overload resolution and "function does not exist" come from PostgreSQL
// itself. Through the proxy a stub hands its arguments to the proxy and returns the result the proxy computed
// (_pg_llm_catalog.call_result, catalog-migrations/idempotent/); called any other way it fails with a hint. A function
// the server runs (declared with its SQL body) is installed as it is.

import { isSqlFunction, type Declaration, type FunctionDeclaration, type Signature, type SqlFunctionDeclaration } from '../../functions/declaration.js';
import { keyOf, schemaOf } from '../../functions/registry.js';
import { REAL_ARRAY, spelled, VECTOR } from '../../functions/vector-type.js';
import { sqlLiteral } from '../sql/literal.js';

export const STUB_SQLSTATE = '0A000';

/** A harmless value of each result type, for collect passes that a NULL would stop (see call_result). */
const PLACEHOLDERS: Record<string, string> = {
  text: '""',
  jsonb: '{}',
  json: '{}',
  boolean: 'false',
  integer: '0',
  bigint: '0',
  'double precision': '0',
  uuid: '"00000000-0000-0000-0000-000000000000"',
  vector: '[0]',
};

/** The stub of a declaration, vector spelled as the upstream's catalog spells it (functions/vector-type.ts). */
export function stubSql(declared: Declaration, vectorType: string): string {
  if (isSqlFunction(declared)) return serverFunctionSql(declared, vectorType);
  const declaration = spelled(declared, vectorType);
  const { parameters, resultSql } = signatureSql(declaration);
  return [
    `CREATE OR REPLACE FUNCTION ${qualifiedName(declaration)}(${parameters})`,
    `RETURNS ${resultSql}`,
    `LANGUAGE plpgsql VOLATILE${declaration.strict ? ' STRICT' : ''}`,
    `AS $stub$${stubBody(declared, vectorType)}$stub$;`,
    `COMMENT ON FUNCTION ${stubSignature(declared, vectorType)} IS ${sqlLiteral(declaration.description)};`,
  ].join('\n');
}

/**
 * The body of a stub, as pg_proc.prosrc holds it: it only hands its arguments to call_result (and returns the result
 * in its type). SQL held to the rules for what the proxy runs may call a function with exactly this body and no
 * setting of its own (src/sql/function-check.ts): a collect pass only records the call.
 */
export function stubBody(declared: FunctionDeclaration, vectorType: string): string {
  const placeholder = declared.result.kind === 'scalar' ? PLACEHOLDERS[declared.result.type] : undefined;
  const declaration = spelled(declared, vectorType);
  const { result } = declaration;
  const { columns } = signatureSql(declaration);
  const argumentsJson = `pg_catalog.jsonb_build_array(${declaration.arguments.map((argument) => quoted(argument.name)).join(', ')})`;
  const value = `_pg_llm_catalog.call_result(${sqlLiteral(keyOf(declared))}, ${argumentsJson}${placeholder ? `, ${sqlLiteral(placeholder)}::pg_catalog.jsonb` : ''})`;
  // jsonb_to_record(set) applies each type's own input rules, so one form serves every result type.
  const body =
    result.kind === 'scalar' && result.type === 'void'
      ? `PERFORM ${value};`
      : result.kind === 'scalar'
      ? `RETURN (SELECT r.v FROM pg_catalog.jsonb_to_record(pg_catalog.jsonb_build_object('v', ${value})) AS r(v ${result.type}));`
      : `RETURN QUERY SELECT * FROM pg_catalog.jsonb_to_recordset(coalesce(${value}, '[]'::pg_catalog.jsonb)) AS r(${columns});`;
  return `\nBEGIN\n  ${body}\nEND\n`;
}

/** The bodies of the declarations' stubs, in either spelling of vector. */
export function stubBodies(declarations: readonly FunctionDeclaration[]): string[] {
  return [...new Set(declarations.flatMap((declaration) => [stubBody(declaration, VECTOR), stubBody(declaration, REAL_ARRAY)]))];
}

/** A function the server runs, with its own body, the search_path its body is written for, and the caller's rights. */
function serverFunctionSql(declared: SqlFunctionDeclaration, vectorType: string): string {
  const declaration = spelled(declared, vectorType);
  const { parameters, resultSql } = signatureSql(declaration);
  return [
    `CREATE OR REPLACE FUNCTION ${qualifiedName(declaration)}(${parameters})`,
    `RETURNS ${resultSql}`,
    `LANGUAGE ${declaration.language} ${declaration.volatility}${declaration.strict ? ' STRICT' : ''} SECURITY INVOKER`,
    `SET search_path = pg_catalog, pg_temp`,
    `AS $function$${declaration.body}$function$;`,
    `COMMENT ON FUNCTION ${stubSignature(declared, vectorType)} IS ${sqlLiteral(declaration.description)};`,
  ].join('\n');
}

/** The parameter list and the result type, as CREATE FUNCTION writes them. */
function signatureSql(declaration: Signature): { parameters: string; resultSql: string; columns: string } {
  const parameters = declaration.arguments
    .map((argument) => `${argument.variadic ? 'VARIADIC ' : ''}${quoted(argument.name)} ${argument.type}${argument.default !== undefined ? ` DEFAULT ${argument.default}` : ''}`)
    .join(', ');
  const { result } = declaration;
  const columns = result.kind === 'table' ? result.columns.map((column) => `${quoted(column.name)} ${column.type}`).join(', ') : '';
  return { parameters, columns, resultSql: result.kind === 'scalar' ? result.type : `TABLE(${columns})` };
}

/** The stub's name and argument types, as DROP FUNCTION and COMMENT ON FUNCTION name it. */
export function stubSignature(declaration: Signature, vectorType: string): string {
  return `${qualifiedName(declaration)}(${spelled(declaration, vectorType).arguments.map((argument) => `${argument.variadic ? 'VARIADIC ' : ''}${argument.type}`).join(', ')})`;
}

function qualifiedName(declaration: Signature): string {
  return `${schemaOf(declaration)}.${declaration.name}`;
}

/** Every name quoted: pgai's include keywords (verbose, index) that PostgreSQL takes as names only when quoted. */
function quoted(identifier: string): string {
  return `"${identifier}"`;
}
