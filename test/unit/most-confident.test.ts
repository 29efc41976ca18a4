// Parallel chat's choice: the rule (highest confidence, tie to the first named), and that an answer that has lost is
// let go as soon as it has, not held until the last candidate answers.

import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import type { Answer } from '../../functions/answer.js';
import { mostConfident } from '../../functions/most-confident.js';
import { PgError } from '../../proxy/pg-error.js';

setFlagsFromString('--expose-gc');
const collectGarbage = runInNewContext('gc') as () => void;

function answer(instanceName: string, confidence: number): Answer {
  return { instanceName, result: { model: `${instanceName}-model`, confidence, text: 'x'.repeat(1024) }, latencyMs: 1 } as unknown as Answer;
}

describe('mostConfident', () => {
  it('picks the highest confidence, a tie going to the first named, whatever order the answers arrive in', async () => {
    const delays: Record<string, number> = { a: 30, b: 20, c: 10, d: 0 };
    const confidences: Record<string, number> = { a: 0.5, b: 0.9, c: 0.9, d: 0.1 };
    const ask = async (name: string) => {
      await new Promise((resolve) => setTimeout(resolve, delays[name]));
      return answer(name, confidences[name]!);
    };
    const { best, candidates } = await mostConfident(['a', 'b', 'c', 'd'], ask);
    expect(best.instanceName).toBe('b');
    expect(candidates.map((candidate) => candidate.instance_name)).toEqual(['a', 'b', 'c', 'd']);
    expect(candidates[1]).toEqual({ instance_name: 'b', model_name: 'b-model', confidence_score: 0.9, latency_ms: 1 });
  });

  it('a provider failure is left out unless all fail; a failure of the call fails it', async () => {
    const down = (name: string) => new PgError('39001', `${name} is down`);
    const fails = (errors: Record<string, Error>) => async (name: string) => {
      if (errors[name]) throw errors[name];
      return answer(name, 0.5);
    };
    const { best, candidates } = await mostConfident(['a', 'b'], fails({ a: down('a') }));
    expect(best.instanceName).toBe('b');
    expect(candidates[0]).toEqual({ instance_name: 'a', error: 'a is down' });
    await expect(mostConfident(['a', 'b'], fails({ a: down('a'), b: down('b') }))).rejects.toThrow('a is down');
    await expect(mostConfident(['a', 'b'], fails({ b: new PgError('42704', 'no b') }))).rejects.toMatchObject({ sqlstate: '42704' });
  });

  it('keeps only the best answer so far while the other candidates are still answering', async () => {
    const answered: Array<WeakRef<Answer>> = [];
    let lastAnswers!: (value: Answer) => void;
    const ask = (name: string): Promise<Answer> => {
      if (name === 'last') return new Promise((resolve) => (lastAnswers = resolve));
      const given = answer(name, name === 'best' ? 0.9 : 0.1);
      answered.push(new WeakRef(given));
      return Promise.resolve(given);
    };
    const names = ['best', ...Array.from({ length: 14 }, (_, i) => `weaker${i}`), 'last'];
    const choice = mostConfident(names, ask);
    await new Promise((resolve) => setImmediate(resolve));
    collectGarbage();
    expect(answered.filter((ref) => ref.deref() !== undefined).map((ref) => ref.deref()!.instanceName)).toEqual(['best']);
    lastAnswers(answer('last', 0.2));
    expect((await choice).best.instanceName).toBe('best');
  });
});
