// What a caller's JSON schema may hold before Ajv compiles it. Ajv treats a schema as trusted code: compiling a deep
// one can overflow the stack, a big one takes long, and a `pattern` is run as a JavaScript regular expression, which
// can backtrack for minutes on an answer the caller's own provider writes to match. All of it would run on the event
// loop every session shares, so llm_extract takes schemas of bounded size and depth, and without patterns.

import { PgError } from '../proxy/pg-error.js';

const MAX_SCHEMA_BYTES = 64 * 1024;
const MAX_SCHEMA_DEPTH = 32;

/** Keywords whose value is a map of names to schemas. */
const SCHEMA_MAPS = new Set(['properties', '$defs', 'definitions', 'dependentSchemas']);
/** Keywords whose value is a schema, or a list of schemas. */
const SCHEMA_VALUES = new Set([
  'items', 'additionalItems', 'prefixItems', 'contains', 'additionalProperties', 'propertyNames', 'not', 'if', 'then', 'else',
  'allOf', 'anyOf', 'oneOf', 'unevaluatedItems', 'unevaluatedProperties',
]);

export function checkSchemaLimits(schema: Record<string, unknown>): void {
  if (JSON.stringify(schema).length > MAX_SCHEMA_BYTES) {
    throw new PgError('54000', `the JSON schema is longer than ${MAX_SCHEMA_BYTES / 1024} kB`, { hint: 'Describe the answer with a smaller schema.' });
  }
  checkSchema(schema, 1);
}

function checkSchema(schema: unknown, depth: number): void {
  if (typeof schema !== 'object' || schema === null) return;
  if (depth > MAX_SCHEMA_DEPTH) throw new PgError('54000', `the JSON schema nests deeper than ${MAX_SCHEMA_DEPTH} levels`);
  if (Array.isArray(schema)) {
    for (const item of schema) checkSchema(item, depth + 1);
    return;
  }
  for (const [keyword, value] of Object.entries(schema)) {
    if (keyword === 'patternProperties' || (keyword === 'pattern' && typeof value === 'string')) {
      throw new PgError('0A000', `llm_extract does not take "${keyword}" in a JSON schema`, {
        hint: 'A regular expression could take unbounded time on an answer; describe the value with type, enum, format or length keywords.',
      });
    }
    if (SCHEMA_MAPS.has(keyword) && typeof value === 'object' && value !== null) {
      for (const member of Object.values(value)) checkSchema(member, depth + 1);
    } else if (SCHEMA_VALUES.has(keyword)) {
      checkSchema(value, depth + 1);
    }
  }
}
