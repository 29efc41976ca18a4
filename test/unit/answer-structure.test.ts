// A big provider answer is counted before it is parsed (nesting, arrays and objects, values: src/json-structure.ts),
// and only the part its adapter reads of it is kept (src/providers/answers/).

import { describe, expect, it } from 'vitest';
import { prune, type Shape } from '../../src/providers/answers/shape.js';
import { checkStructure, STRUCTURE_LIMITS } from '../../src/providers/answers/structure.js';
import { VectorTally } from '../../src/providers/answers/vector-tally.js';

const limits = { depth: 4, containers: 10, values: 20, members: 20 };

describe('the count of an answer before it is parsed', () => {
  it('passes an answer within the limits, strings counted as one value whatever they hold', () => {
    expect(() => checkStructure('{"a":[1,2,{"b":"[[[[[,,,,{{{{\\"]]]]"}],"c":null}', limits)).not.toThrow();
    expect(() => checkStructure(JSON.stringify({ text: 'x,'.repeat(100_000) }), limits)).not.toThrow();
  });

  it.each([
    ['nesting', '[[[[[1]]]]]', 'nested more than 4 deep'],
    ['arrays and objects', `[${'{},'.repeat(10)}{}]`, 'more than 10 arrays and objects'],
    ['values', `[${'0,'.repeat(20)}0]`, 'more than 20 values'],
  ])('refuses one over the limit of %s with 54000', (_, text, what) => {
    expect(() => checkStructure(text, limits)).toThrow(expect.objectContaining({ sqlstate: '54000', message: expect.stringContaining(what), hint: expect.stringContaining('base_url') }));
  });

  it("lets embeddings hold more numbers than chat answers: a batch of 2048 vectors of 3072 floats", () => {
    const batch = `{"data":[${`{"embedding":[${'0.1,'.repeat(3071)}0.1]},`.repeat(2047)}{"embedding":[0]}]}`;
    expect(() => checkStructure(batch, STRUCTURE_LIMITS.chat)).toThrow(expect.objectContaining({ sqlstate: '54000' }));
    expect(() => checkStructure(batch, STRUCTURE_LIMITS.embedding)).not.toThrow();
  });
});

describe('an answer cut down to its shape', () => {
  const tally = () => new VectorTally(undefined);
  const shape: Shape = {
    fields: {
      model: 'scalar',
      choices: { first: 1, items: { fields: { message: { fields: { content: 'scalar' } } } } },
      data: { first: 3, items: { fields: { embedding: 'vector' } } },
      raw: 'any',
    },
  };

  it('keeps the fields described, drops the others, and the items past `first`; vectors of numbers become base64 float32s', () => {
    const answer = {
      model: 'm',
      pad: [{}, {}, {}],
      choices: [{ message: { content: 'hi', extra: [1] } }, { message: { content: 'second' } }],
      data: [{ embedding: [1, 2] }, { embedding: 'AACAPw==' }, { embedding: [{}] }, { embedding: [3] }],
      raw: { kept: [{}] },
    };
    expect(prune(answer, shape, tally())).toEqual({
      model: 'm',
      choices: [{ message: { content: 'hi' } }],
      data: [{ embedding: 'AACAPwAAAEA=' }, { embedding: 'AACAPw==' }, {}],
      raw: { kept: [{}] },
    });
  });

  it('keeps scalars where a container is described, and drops containers where a scalar is', () => {
    expect(prune({ model: { huge: [] }, choices: 'none' }, shape, tally())).toEqual({ choices: 'none' });
  });

  it("refuses a vector over pgvector's 16,000 dimensions with 54000, as numbers or base64, before it leaves the thread", () => {
    const base64 = (dimensions: number) => Buffer.alloc(4 * dimensions).toString('base64');
    for (const embedding of [new Array(16_001).fill(0), base64(16_001)]) {
      expect(() => prune({ data: [{ embedding }] }, shape, tally())).toThrow(expect.objectContaining({ sqlstate: '54000', message: expect.stringContaining('16001 dimensions') }));
    }
    expect(prune({ data: [{ embedding: base64(16_000) }] }, shape, tally())).toEqual({ data: [{ embedding: base64(16_000) }] });
  });
});
