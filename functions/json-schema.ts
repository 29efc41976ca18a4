// JSON Schema validation of llm_extract's answers with Ajv. A statement calls with the same schema on every row, so
// each schema is compiled once and kept; Ajv keeps what it compiles too, so the least recently used are removed
// from it when more than a bound are kept.

import { Ajv, type ValidateFunction } from 'ajv';
import { PgError } from '../proxy/pg-error.js';
import { checkSchemaLimits } from './schema-limits.js';

const KEPT_SCHEMAS = 64;
/** strict off: schemas written for other validators (unknown keywords, formats) are taken as they are. */
const ajv = new Ajv({ strict: false, validateFormats: false });
const compiled = new Map<string, { schema: Record<string, unknown>; validate: ValidateFunction }>();

/** The validator of a schema; 22023 when it is not one. */
export function schemaValidator(schema: unknown): ValidateFunction {
  if (typeof schema !== 'object' || schema === null || Array.isArray(schema)) throw new PgError('22023', 'schema must be a JSON object (a JSON Schema)');
  checkSchemaLimits(schema as Record<string, unknown>);
  const key = JSON.stringify(schema);
  const kept = compiled.get(key);
  if (kept) {
    compiled.delete(key);
    compiled.set(key, kept);
    return kept.validate;
  }
  let validate: ValidateFunction;
  try {
    validate = ajv.compile(schema);
  } catch (error) {
    throw new PgError('22023', `invalid JSON schema: ${(error as Error).message}`, { hint: 'Write the schema in JSON Schema (draft-07 or 2019-09).' });
  }
  compiled.set(key, { schema: schema as Record<string, unknown>, validate });
  if (compiled.size > KEPT_SCHEMAS) {
    const [oldest, entry] = compiled.entries().next().value!;
    compiled.delete(oldest);
    ajv.removeSchema(entry.schema);
  }
  return validate;
}

/** Where and how a value fails its schema, in one line. */
export function validationProblem(validate: ValidateFunction): string {
  return (validate.errors ?? []).map((error) => `${error.instancePath || '/'} ${error.message ?? 'is invalid'}`).join('; ');
}
