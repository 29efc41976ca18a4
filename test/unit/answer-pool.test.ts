// Big provider answers are parsed in worker threads; the answers waiting for them are bounded in number, and each
// role may hold only a few of the places, so that one role's server cannot make the others' answers fail.

import { describe, expect, it } from 'vitest';
import { loginAsker } from '../../src/providers/asker.js';
import { answersHeld, encodeInThread, parseInThread, QUEUE_LIMITS, type ParsedAnswer } from '../../src/providers/answers/pool.js';
import { STRUCTURE_LIMITS } from '../../src/providers/answers/structure.js';
import { vectorOf } from '../../src/providers/embedding-vectors.js';

const json = async (parsed: Promise<ParsedAnswer>) => new TextDecoder().decode((await parsed).json);
const answer = (text: string) => ({ text: new TextEncoder().encode(text), shape: { fields: { model: 'scalar' } } as const, limits: STRUCTURE_LIMITS.chat });

describe('the threads that parse big answers', () => {
  it("give back the JSON of the answer's pruned form, and fail malformed JSON with 39001", async () => {
    expect(await json(parseInThread(answer('{"model":"m","pad":[{},{},{}]}'), 'alice'))).toBe('{"model":"m"}');
    await expect(parseInThread(answer('{"model":'), 'alice')).rejects.toMatchObject({ sqlstate: '39001', message: expect.stringContaining('not valid JSON') });
    await expect(parseInThread(answer(`{"pad":[${'{},'.repeat(2_000_000)}{}]}`), 'alice')).rejects.toMatchObject({ sqlstate: '54000' });
  });

  it('give back an answer handed on whole written out again, its strings and names masked of the secrets, besides the part read', async () => {
    const secret = 'sk-0123456789abcdefghijklmnopqrstuvwxyz';
    const text = new TextEncoder().encode(`{"model":"m","said":"${secret.replace('s', '\\u0073')}","${secret}":[1, {}]}`);
    const parsed = await parseInThread({ ...answer(''), text, whole: { secrets: [secret] } }, 'alice');
    expect(new TextDecoder().decode(parsed.json)).toBe('{"model":"m"}');
    const whole = new TextDecoder().decode(parsed.whole);
    expect(whole).not.toContain(secret.slice(0, 24));
    expect(Object.keys(JSON.parse(whole))).toHaveLength(3);
    expect(JSON.parse(whole)).toMatchObject({ model: 'm', said: expect.not.stringContaining('0123456789abcdefghij') });
  });

  it('give back vectors of numbers as base64 float32s, which the event loop reads as strings rather than numbers', async () => {
    const embeddings = [[0.1, -2.5, 1e-7], [3, 0, -0.5]];
    const shape = { fields: { data: { first: 3, items: { fields: { embedding: 'vector' } } } } } as const;
    const text = new TextEncoder().encode(JSON.stringify({ data: embeddings.map((embedding) => ({ embedding })) }));
    const pruned = JSON.parse(await json(parseInThread({ text, shape, limits: STRUCTURE_LIMITS.embedding }, 'alice')));
    expect(pruned.data.map(({ embedding }: { embedding: unknown }) => typeof embedding)).toEqual(['string', 'string']);
    expect(pruned.data.map(({ embedding }: { embedding: string }) => vectorOf(embedding))).toEqual(embeddings.map((vector) => vector.map(Math.fround)));
  });

  it('hold an embeddings answer to the texts its request asked about: one vector too many fails it with 39001', async () => {
    const shape = { fields: { data: { first: 2049, items: { fields: { embedding: 'vector' } } } } } as const;
    const text = () => new TextEncoder().encode(JSON.stringify({ data: [{ embedding: [1, 2] }, { embedding: [3, 4] }] }));
    const parse = (texts: number) => parseInThread({ text: text(), shape, limits: STRUCTURE_LIMITS.embedding, asked: { texts } }, 'alice');
    expect(JSON.parse(await json(parse(2))).data).toHaveLength(2);
    await expect(parse(1)).rejects.toMatchObject({ sqlstate: '39001', message: 'the model provider answered more embeddings than the 1 texts it was asked for' });
  });

  it("refuse a role's answer past its places with 53000, while another role's are parsed", async () => {
    const bobs = Array.from({ length: QUEUE_LIMITS.perAsker }, () => parseInThread(answer('{"model":"b"}'), 'bob'));
    await expect(parseInThread(answer('{"model":"b"}'), 'bob')).rejects.toMatchObject({ sqlstate: '53000', message: expect.stringContaining('of this role') });
    expect(await json(parseInThread(answer('{"model":"a"}'), 'alice'))).toBe('{"model":"a"}');
    expect(await Promise.all(bobs.map(json))).toEqual(Array(QUEUE_LIMITS.perAsker).fill('{"model":"b"}'));
    expect(answersHeld()).toBe(0);
  });

  it('refuse any answer past the places of all roles with 53000', async () => {
    const roles = QUEUE_LIMITS.answers / QUEUE_LIMITS.perAsker;
    const held = Array.from({ length: QUEUE_LIMITS.answers }, (_, i) => parseInThread(answer('{}'), `role ${i % roles}`));
    await expect(parseInThread(answer('{}'), 'another')).rejects.toMatchObject({ sqlstate: '53000', message: expect.not.stringContaining('of this role') });
    await Promise.all(held);
    expect(answersHeld()).toBe(0);
  });

  it("hold a role to its share of the bytes past its first job, leaving the rest for another role's", async () => {
    // A request body is counted as the characters its caller says it has, without making them.
    const big = (QUEUE_LIMITS.bytesPerAsker * 5) / 8;
    const bobs = [encodeInThread({ b: 1 }, big, 'bob')];
    await expect(encodeInThread({ b: 2 }, big, 'bob')).rejects.toMatchObject({ sqlstate: '53000', message: expect.stringContaining('of this role') });
    bobs.push(encodeInThread({ b: 3 }, QUEUE_LIMITS.bytesPerAsker - big, 'bob'));
    expect(new TextDecoder().decode(await encodeInThread({ a: 1 }, QUEUE_LIMITS.bytes - QUEUE_LIMITS.bytesPerAsker, 'alice'))).toBe('{"a":1}');
    await Promise.all(bobs);
    expect(answersHeld()).toBe(0);
  });

  it("count a login role's jobs in one share, whichever role and database they are for, its collect passes' too", async () => {
    const alices = (role: string, database: string) => JSON.stringify([role, database, 'alice']);
    const big = (QUEUE_LIMITS.bytesPerAsker * 5) / 8;
    const first = encodeInThread({ a: 1 }, big, alices('alice', 'one'));
    for (const asker of [alices('alice', 'two'), alices('reports', 'one'), loginAsker('alice')]) {
      await expect(encodeInThread({ a: 2 }, big, asker)).rejects.toMatchObject({ sqlstate: '53000', message: expect.stringContaining('of this role') });
    }
    expect(new TextDecoder().decode(await encodeInThread({ b: 1 }, big, JSON.stringify(['bob', 'one', 'bob'])))).toBe('{"b":1}');
    await first;
    expect(answersHeld()).toBe(0);
  });
});
