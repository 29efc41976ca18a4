import { describe, expect, it } from 'vitest';
import { parseVector, reportedType, spelled, usesVector } from '../../functions/vector-type.js';
import { findFunction } from '../../functions/registry.js';

describe('parseVector', () => {
  it('reads the forms PostgreSQL hands a vector argument over in', () => {
    expect(parseVector([1, 2.5, -3])).toEqual([1, 2.5, -3]);
    expect(parseVector('[1,2.5,-3]')).toEqual([1, 2.5, -3]);
    expect(parseVector('{1,2.5,-3e-7}')).toEqual([1, 2.5, -3e-7]);
    expect(parseVector(null)).toBeNull();
  });

  it('refuses what is no vector', () => {
    expect(() => parseVector('[1,x]')).toThrow(expect.objectContaining({ sqlstate: '22P02' }));
    expect(() => parseVector('{{1,2},{3,4}}')).toThrow(expect.objectContaining({ sqlstate: '22P02' }));
    expect(() => parseVector({ a: 1 })).toThrow(expect.objectContaining({ sqlstate: '22P02' }));
    expect(() => parseVector('{1,NULL}')).toThrow(expect.objectContaining({ sqlstate: '22004' }));
    expect(() => parseVector([1, 'NaN'])).toThrow(expect.objectContaining({ sqlstate: '22023' }));
    expect(() => parseVector('{Infinity}')).toThrow(expect.objectContaining({ sqlstate: '22023' }));
    expect(() => parseVector('[]')).toThrow(expect.objectContaining({ sqlstate: '22023' }));
  });
});

describe('the spelling of vector', () => {
  it('substitutes the upstream spelling for every vector of a declaration, and only there', () => {
    const storeVector = findFunction('pg_llm_store_vector')!;
    expect(spelled(storeVector, 'real[]').arguments.map((argument) => argument.type)).toEqual(['text', 'text', 'bigint', 'real[]', 'jsonb']);
    expect(spelled(findFunction('pg_llm_get_embedding')!, 'real[]').result).toEqual({ kind: 'scalar', type: 'real[]' });
    expect(spelled(storeVector, 'vector')).toEqual(storeVector);
    expect(usesVector(storeVector)).toBe(true);
    expect(usesVector(findFunction('pg_llm_chat')!)).toBe(false);
  });

  it('reads a result column as real[] only when PostgreSQL reports real[]', () => {
    expect(reportedType('vector', 1021)).toBe('real[]');
    expect(reportedType('vector', 16385)).toBe('vector');
    expect(reportedType('text', 1021)).toBe('text');
  });
});
