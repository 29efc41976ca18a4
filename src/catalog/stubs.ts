// The upstream stub of each intercepted function, generated from its declaration. The stubs give PostgreSQL the
// exact signatures, so \df, Describe, overload resolution and "function does not exist" come from PostgreSQL
// itself. Through the proxy a stub hands its arguments to the proxy and returns the result the proxy computed
// (_pg_llm_catalog.call_result, catalog-migrations/idempotent/); called any other way it fails with a hint. A function
// the server runs (declared with its SQL body) is installed as it is.

import { isSqlFunction, type ArgumentDeclaration, type Declaration, type FunctionDeclaration, type Signature, type SqlFunctionDeclaration } from '../../functions/declaration.js';
import { keyOf, schemaOf } from '../../functions/registry.js';
import { REAL_ARRAY, spelled, VECTOR } from '../../functions/vector-type.js';
import { STATEMENT_ANSWER_BYTES, STATEMENT_GROUPS_BYTES } from '../intercept/answer-budget.js';
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
  if (declared.aggregate) return aggregateSql(declared);
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
  const declaration = spelled(declared, vectorType);
  const { result } = declaration;
  const { columns } = signatureSql(declaration);
  const value = callResult(declared, `pg_catalog.jsonb_build_array(${declaration.arguments.map((argument) => quoted(argument.name)).join(', ')})`);
  // jsonb_to_record(set) applies each type's own input rules, so one form serves every result type.
  const body =
    result.kind === 'scalar' && result.type === 'void'
      ? `PERFORM ${value};`
      : result.kind === 'scalar'
      ? returnScalar(value, result.type)
      : `RETURN QUERY SELECT * FROM pg_catalog.jsonb_to_recordset(coalesce(${value}, '[]'::pg_catalog.jsonb)) AS r(${columns});`;
  return `\nBEGIN\n  ${body}\nEND\n`;
}

/** The bodies of the declarations' stubs, in either spelling of vector; an aggregate's are its catalog functions'. */
export function stubBodies(declarations: readonly FunctionDeclaration[]): string[] {
  return [
    ...new Set(declarations.flatMap((declaration) => (declaration.aggregate ? aggregateBodies(declaration) : [stubBody(declaration, VECTOR), stubBody(declaration, REAL_ARRAY)]))),
  ];
}

/** The call of call_result that hands a call with these arguments (a jsonb array) to the proxy. */
function callResult(declared: FunctionDeclaration, argumentsJson: string): string {
  const placeholder = declared.result.kind === 'scalar' ? PLACEHOLDERS[declared.result.type] : undefined;
  return `_pg_llm_catalog.call_result(${sqlLiteral(keyOf(declared))}, ${argumentsJson}${placeholder ? `, ${sqlLiteral(placeholder)}::pg_catalog.jsonb` : ''})`;
}

function returnScalar(value: string, type: string): string {
  return `RETURN (SELECT r.v FROM pg_catalog.jsonb_to_record(pg_catalog.jsonb_build_object('v', ${value})) AS r(v ${type}));`;
}

/**
 * An aggregate's stub (see FunctionDeclaration.aggregate). The step function keeps each row's value of the collected
 * argument in the session's temp table (prepare_session), not in the state: a state that grew with every row would
 * be copied at every row, as only PostgreSQL's own transition functions avoid. The state is small: the group's
 * number, its other arguments, and the bytes collected so far, which may not pass the answer budget (nor may the
 * statement's groups together pass eight times that). The final function hands the group's values, in the order
 * they came, to the proxy as one call; it empties the group's rows
 * as it goes (FINALFUNC_MODIFY = READ_WRITE), so PostgreSQL refuses the aggregate as a window function.
 */
function aggregateSql(declared: FunctionDeclaration): string {
  const { step, final } = aggregateHelpers(declared);
  const typed = (argument: { name: string; type: string }) => `${quoted(argument.name)} ${argument.type}`;
  const sql: string[] = [];
  for (const arity of aggregateArities(declared)) {
    sql.push(
      `CREATE OR REPLACE FUNCTION ${step}(state pg_catalog.jsonb, ${declared.arguments.slice(0, arity).map(typed).join(', ')})`,
      `RETURNS pg_catalog.jsonb`,
      `LANGUAGE plpgsql VOLATILE`,
      `AS $stub$${stepBody(declared, arity)}$stub$;`,
    );
  }
  sql.push(
    `CREATE OR REPLACE FUNCTION ${final}(state pg_catalog.jsonb)`,
    `RETURNS ${(declared.result as { type: string }).type}`,
    `LANGUAGE plpgsql VOLATILE`,
    `AS $stub$${finalBody(declared)}$stub$;`,
  );
  for (const arity of aggregateArities(declared)) {
    const given = declared.arguments.slice(0, arity);
    sql.push(
      `CREATE OR REPLACE AGGREGATE ${qualifiedName(declared)}(${given.map(typed).join(', ')}) (`,
      `  SFUNC = ${step}, STYPE = pg_catalog.jsonb, FINALFUNC = ${final}, FINALFUNC_MODIFY = READ_WRITE`,
      `);`,
      `COMMENT ON AGGREGATE ${qualifiedName(declared)}(${given.map((argument) => argument.type).join(', ')}) IS ${sqlLiteral(declared.description)};`,
    );
  }
  return sql.join('\n');
}

/**
 * The bodies of an aggregate's catalog functions, which SQL held to the rules for what the proxy runs may call as it
 * may call a stub (stubBodies): within a collect pass their rows go with its savepoint. Like a stub's body they name
 * everything qualified and have no setting of their own (src/sql/function-check.ts).
 */
function aggregateBodies(declared: FunctionDeclaration): string[] {
  return [...aggregateArities(declared).map((arity) => stepBody(declared, arity)), finalBody(declared)];
}

/** The step with `arity` arguments given: the group's number and other arguments at its first row, each row's value kept. */
function stepBody(declared: FunctionDeclaration, arity: number): string {
  const [collected, ...others] = declared.arguments;
  // An omitted argument stands at its default; a NULL one is written as such, naming no type by its bare name.
  const given = (argument: ArgumentDeclaration, i: number) =>
    i + 1 < arity ? `pg_catalog.to_jsonb(${quoted(argument.name)})` : argument.default!.startsWith('NULL::') ? 'NULL' : `pg_catalog.to_jsonb(${argument.default})`;
  const group = `pg_catalog.jsonb_build_array(${others.map(given).join(', ')})`;
  const budget = STATEMENT_ANSWER_BYTES;
  return [
    ``,
    `DECLARE`,
    `  value pg_catalog.jsonb := pg_catalog.to_jsonb(${quoted(collected!.name)});`,
    `  bytes pg_catalog.int8 := coalesce(pg_catalog.octet_length(value::pg_catalog.text), 0);`,
    `BEGIN`,
    `  IF state IS NULL THEN`,
    `    PERFORM _pg_llm_catalog.require_proxy(${sqlLiteral(keyOf(declared))});`,
    `    state := pg_catalog.jsonb_build_array(pg_catalog.nextval('pg_temp.pg_llm_aggregate_groups'::pg_catalog.regclass), ${group}, 0);`,
    `  ELSIF (state OPERATOR(pg_catalog.->) 1) OPERATOR(pg_catalog.<>) ${group} THEN`,
    `    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = ${sqlLiteral(`${declared.name}: the rows of one group give different values of ${others.map((argument) => argument.name).join(', ')}`)},`,
    `      HINT = 'Give each group one value (a constant, or a column the statement groups by).';`,
    `  END IF;`,
    `  bytes := (state OPERATOR(pg_catalog.->>) 2)::pg_catalog.int8 OPERATOR(pg_catalog.+) bytes;`,
    `  IF bytes OPERATOR(pg_catalog.>) ${budget} THEN`,
    `    RAISE EXCEPTION USING ERRCODE = '54000', MESSAGE = ${sqlLiteral(`${declared.name}: a group's ${collected!.name} are larger than the proxy takes at once (${budget} bytes)`)},`,
    `      HINT = 'Group the rows more finely, or keep only the part of each that matters (left(body, 2000)).';`,
    `  END IF;`,
    `  INSERT INTO pg_temp.pg_llm_aggregate_inputs (group_id, value) VALUES ((state OPERATOR(pg_catalog.->>) 0)::pg_catalog.int8, value);`,
    `  RETURN pg_catalog.jsonb_set(state, '{2}'::pg_catalog.text[], pg_catalog.to_jsonb(bytes));`,
    `END`,
    ``,
  ].join('\n');
}

/**
 * The final function: the group's values, in the order they came, handed to the proxy as one call, and let go. The
 * statement's groups so far are counted per execution (a setting of the transaction: a collect pass's goes with its
 * savepoint, and the next statement's execution starts it again).
 */
function finalBody(declared: FunctionDeclaration): string {
  const collectedJson = `pg_catalog.jsonb_build_array(collected) OPERATOR(pg_catalog.||) (state OPERATOR(pg_catalog.->) 1)`;
  const group = `(state OPERATOR(pg_catalog.->>) 0)::pg_catalog.int8`;
  return [
    ``,
    `DECLARE`,
    `  collected pg_catalog.jsonb;`,
    `  execution pg_catalog.text := pg_catalog.current_setting('pg_llm.execution', true);`,
    `  counted pg_catalog.text[] := pg_catalog.string_to_array(pg_catalog.current_setting('pg_llm.aggregated_bytes', true), ':');`,
    `  total pg_catalog.int8;`,
    `BEGIN`,
    `  IF state IS NULL THEN`,
    `    PERFORM _pg_llm_catalog.require_proxy(${sqlLiteral(keyOf(declared))});`,
    `    RETURN NULL;`,
    `  END IF;`,
    `  total := (state OPERATOR(pg_catalog.->>) 2)::pg_catalog.int8 OPERATOR(pg_catalog.+)`,
    `    CASE WHEN counted[1] OPERATOR(pg_catalog.=) execution THEN counted[2]::pg_catalog.int8 ELSE 0 END;`,
    `  IF total OPERATOR(pg_catalog.>) ${STATEMENT_GROUPS_BYTES} THEN`,
    `    RAISE EXCEPTION USING ERRCODE = '54000', MESSAGE = ${sqlLiteral(`${declared.name}: the groups of one statement are larger than the proxy takes at once (${STATEMENT_GROUPS_BYTES} bytes)`)},`,
    `      HINT = 'Summarize fewer groups at a time (a WHERE on the grouping key), or keep only the part of each text that matters (left(body, 2000)).';`,
    `  END IF;`,
    `  PERFORM pg_catalog.set_config('pg_llm.aggregated_bytes', pg_catalog.concat(execution, ':', total), true);`,
    `  SELECT coalesce(pg_catalog.jsonb_agg(i.value ORDER BY i.position), '[]'::pg_catalog.jsonb) INTO collected`,
    `    FROM pg_temp.pg_llm_aggregate_inputs i WHERE i.group_id OPERATOR(pg_catalog.=) ${group};`,
    `  DELETE FROM pg_temp.pg_llm_aggregate_inputs i WHERE i.group_id OPERATOR(pg_catalog.=) ${group};`,
    `  ${returnScalar(callResult(declared, collectedJson), (declared.result as { type: string }).type)}`,
    `END`,
    ``,
  ].join('\n');
}

/** How many arguments an aggregate's calls may give: from those without a default to all. */
function aggregateArities(declaration: Signature): number[] {
  const required = declaration.arguments.filter((argument) => argument.default === undefined).length;
  return Array.from({ length: declaration.arguments.length - required + 1 }, (_, i) => required + i);
}

/** The catalog's functions behind an aggregate's stub. */
function aggregateHelpers(declaration: Signature): { step: string; final: string } {
  const prefix = `_pg_llm_catalog."${schemaOf(declaration)}_${declaration.name}`;
  return { step: `${prefix}_step"`, final: `${prefix}_final"` };
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

/**
 * Every routine a declaration installs, as DROP ROUTINE names them: its stub (an aggregate's, one per number of
 * arguments, then the catalog's functions behind them).
 */
export function stubSignatures(declaration: Declaration, vectorType: string): string[] {
  if (isSqlFunction(declaration) || !declaration.aggregate) return [stubSignature(declaration, vectorType)];
  const { step, final } = aggregateHelpers(declaration);
  const types = (arity: number) => declaration.arguments.slice(0, arity).map((argument) => argument.type);
  return [
    ...aggregateArities(declaration).map((arity) => `${qualifiedName(declaration)}(${types(arity).join(', ')})`),
    ...aggregateArities(declaration).map((arity) => `${step}(pg_catalog.jsonb, ${types(arity).join(', ')})`),
    `${final}(pg_catalog.jsonb)`,
  ];
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
