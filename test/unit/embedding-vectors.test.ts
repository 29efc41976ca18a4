// The vectors of an embeddings answer are decoded and checked one at a time, the event loop turning between: a batch
// of 2,048 OpenAI vectors held every session for a third of a second.

import { describe, expect, it } from 'vitest';
import { STEPS_A_TURN } from '../../src/event-loop-turns.js';
import { checkedVectors } from '../../src/providers/embedding-vectors.js';
import { withTurnsCounted } from '../support/turns.js';

const base64 = (vector: number[]) => Buffer.from(new Float32Array(vector).buffer).toString('base64');

describe("an embeddings answer's vectors", () => {
  it('are decoded one at a time, the event loop turning between', async () => {
    const vectors = Array.from({ length: 1024 }, (_, i) => [i, 0.5, -2]);
    const { value: checked, turns } = await withTurnsCounted(() => checkedVectors('openai', vectors.map(base64), vectors.length, 3));
    expect(checked).toEqual(vectors);
    // A vector a step, and a turn at least every STEPS_A_TURN steps.
    expect(turns).toBeGreaterThanOrEqual(vectors.length / STEPS_A_TURN);
  });

  it('are refused with 54000 past 16,000 dimensions, as numbers or base64', async () => {
    for (const vector of [new Array(16_001).fill(0), base64(new Array(16_001).fill(0))]) {
      await expect(checkedVectors('openai', [vector], 1)).rejects.toMatchObject({ sqlstate: '54000', message: expect.stringContaining('over the 16000') });
    }
    expect((await checkedVectors('openai', [base64(new Array(16_000).fill(1))], 1))[0]).toHaveLength(16_000);
  });

  it("are refused with a number past float4's range, as the proxy hands vectors on, however they came", async () => {
    for (const vector of [[0.5, 1e39], base64([0.5, Infinity])]) {
      await expect(checkedVectors('openai', [vector], 1)).rejects.toMatchObject({ message: expect.stringContaining('not a list of numbers') });
    }
  });
});
