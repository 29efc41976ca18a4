// The `vector` type of the declarations. Where the upstream has pgvector it is pgvector's own type; where it has
// not, the catalog keeps embeddings as real[] and the stubs say real[] wherever a declaration says vector. The
// catalog's embedding columns record which (catalog-migrations/idempotent/002_vectors.sql converts them), and
// install spells the stubs after them: spelled() is that one substitution.

import { PgError } from '../proxy/pg-error.js';
import type { Signature } from './declaration.js';

export const VECTOR = 'vector';
export const REAL_ARRAY = 'real[]';
/** pg_type's OID of real[] (_float4); pgvector's vector has an OID of its own, different in each database. */
const REAL_ARRAY_OID = 1021;

/** The declaration with its types as the upstream spells them, given how it spells vector. */
export function spelled<D extends Signature>(declaration: D, vectorType: string): D {
  const type = (declared: string): string => (declared === VECTOR ? vectorType : declared);
  const { result } = declaration;
  return {
    ...declaration,
    arguments: declaration.arguments.map((argument) => ({ ...argument, type: type(argument.type) })),
    result: result.kind === 'scalar' ? { kind: 'scalar', type: type(result.type) } : { kind: 'table', columns: result.columns.map((column) => ({ ...column, type: type(column.type) })) },
  };
}

/** Whether the declaration's stub changes with the spelling of vector. */
export function usesVector(declaration: Signature): boolean {
  const { result } = declaration;
  const types = [...declaration.arguments.map((argument) => argument.type), ...(result.kind === 'scalar' ? [result.type] : result.columns.map((column) => column.type))];
  return types.includes(VECTOR);
}

/** The type a declared result column has upstream, from the type OID its RowDescription reports. */
export function reportedType(declared: string, typeOid: number | undefined): string {
  return declared === VECTOR && typeOid === REAL_ARRAY_OID ? REAL_ARRAY : declared;
}

/**
 * A vector argument as its numbers. It arrives as PostgreSQL gave it: a JSON array (real[] through
 * jsonb_build_array), or text, pgvector's "[1,2,3]" or an array's "{1,2,3}".
 */
export function parseVector(value: unknown): number[] | null {
  if (value === null || value === undefined) return null;
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  const items = Array.isArray(value) ? (value as unknown[]) : typeof value === 'string' ? listItems(value) : undefined;
  if (items === undefined) throw malformed(text);
  if (items.length === 0) throw new PgError('22023', 'vector must have at least 1 dimension');
  return items.map((item) => {
    if (item === null) throw new PgError('22004', 'vector must not contain nulls');
    // to_jsonb writes real's NaN and infinities as strings; array text writes every element as text.
    const number = typeof item === 'number' ? item : typeof item === 'string' && item.trim() !== '' ? Number(item) : Number.NaN;
    if (Number.isNaN(number) && !(typeof item === 'string' && /^\s*nan\s*$/i.test(item))) throw malformed(text);
    if (!Number.isFinite(number)) throw new PgError('22023', 'NaN and infinity are not allowed in a vector');
    return number;
  });
}

/** The elements of "[…]" or "{…}" text, NULL as null. */
function listItems(text: string): Array<string | null> | undefined {
  const body = /^\s*(?:\[(.*)\]|\{(.*)\})\s*$/s.exec(text);
  if (!body) return undefined;
  const inside = (body[1] ?? body[2]!).trim();
  return inside === '' ? [] : inside.split(',').map((item) => (/^\s*null\s*$/i.test(item) ? null : item));
}

function malformed(text: string): PgError {
  return new PgError('22P02', `invalid input syntax for type vector: "${text.length > 60 ? `${text.slice(0, 60)}…` : text}"`);
}
