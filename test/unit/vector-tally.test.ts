// A big embeddings answer's vectors are counted in the thread that parses it, against what its request asked for,
// before any of them comes to the event loop: a server answered 1,000 vectors of 15,000 numbers for one text, 85 MB
// of JSON that held every session for seconds before the adapter found it had too many.

import { describe, expect, it } from 'vitest';
import { STRUCTURE_LIMITS } from '../../src/providers/answers/structure.js';
import { limitsAnswering, MAX_ANSWER_NUMBERS, VectorTally } from '../../src/providers/answers/vector-tally.js';

const base64 = (dimensions: number) => Buffer.alloc(4 * dimensions).toString('base64');

/** Counts the embeddings one after the other; the error of the first refused, or undefined. */
function refusal(tally: VectorTally, embeddings: unknown[]): unknown {
  try {
    for (const embedding of embeddings) tally.count(embedding);
  } catch (error) {
    return error;
  }
  return undefined;
}

describe("the count of a big embeddings answer's vectors", () => {
  it('refuses one more vector than the texts asked about with 39001, as numbers or base64', () => {
    for (const embedding of [[0.5, 1], base64(2)]) {
      expect(refusal(new VectorTally({ texts: 1 }), [embedding])).toBeUndefined();
      expect(refusal(new VectorTally({ texts: 1 }), [embedding, embedding])).toMatchObject({
        sqlstate: '39001',
        message: 'the model provider answered more embeddings than the 1 texts it was asked for',
      });
    }
  });

  it("refuses a vector of other dimensions than the model config's with 39001", () => {
    expect(refusal(new VectorTally({ texts: 2, dimensions: 3 }), [[1, 2, 3], base64(15_000)])).toMatchObject({
      sqlstate: '39001',
      message: 'the model provider answered an embedding of 15000 dimensions where 3 were asked for',
    });
  });

  it(`lets a batch of 2,048 texts of 4,096 numbers through, and refuses more numbers than that (${MAX_ANSWER_NUMBERS}) with 54000`, () => {
    const batch = Array<string>(2048).fill(base64(4096));
    expect(refusal(new VectorTally({ texts: 2048 }), batch)).toBeUndefined();
    expect(refusal(new VectorTally({ texts: 2048 }), Array<string>(2048).fill(base64(3072)))).toBeUndefined();
    // A batch's results line says nothing of its request's texts: the bound of every answer holds there too.
    expect(refusal(new VectorTally(undefined), [...batch, [0.5]])).toMatchObject({ sqlstate: '54000', hint: expect.stringContaining('embedding_batch_size') });
    expect(refusal(new VectorTally({ texts: 1100 }), Array<unknown>(1100).fill(base64(16_000)))).toMatchObject({ sqlstate: '54000' });
  });

  it("refuses a vector over pgvector's 16,000 dimensions with 54000 whatever was asked", () => {
    expect(refusal(new VectorTally(undefined), [base64(16_001)])).toMatchObject({ sqlstate: '54000', message: expect.stringContaining('16001 dimensions') });
  });

  it('holds the values of the JSON to the numbers a vector for each text may have, before it is parsed', () => {
    const values = (texts: number) => limitsAnswering({ texts, dimensions: 768 }, STRUCTURE_LIMITS.embedding).values;
    expect(values(1)).toBe(16_000 + 16 + 1024);
    expect(values(2048)).toBe(MAX_ANSWER_NUMBERS + 2048 * 16 + 1024);
  });
});
