// Embeddings through the real SDK adapters over HTTP against the fake provider: batching to the provider's limit,
// order, usage, errors; and the providers that have none.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { embedTexts, providerFor } from '../../src/providers/index.js';
import { localEmbedding } from '../../src/providers/local-embedding.js';
import { startFakeProvider, type FakeProvider } from '../support/fake-provider.js';
import { API_KEY } from '../support/models.js';

let fake: FakeProvider;
beforeAll(async () => {
  fake = await startFakeProvider();
});
afterAll(() => fake.close());

const signal = new AbortController().signal;
const expected = (text: string) => [text.length, ...[...text].slice(0, 3).map((c) => c.charCodeAt(0))];

describe('embeddings', () => {
  it('openai: many texts go in requests of at most embedding_batch_size, and come back in their order', async () => {
    fake.requests.length = 0;
    const provider = providerFor('emb', { provider: 'openai', model_name: 'gpt-test', embedding_model: 'emb-test', embedding_batch_size: 2, base_url: fake.baseUrl }, API_KEY);
    const texts = ['alpha', 'be', 'gamma ray', 'd', 'epsilon'];
    const result = await embedTexts(provider, texts, signal);
    expect(result.vectors).toEqual(texts.map(expected));
    expect(result).toMatchObject({ model: 'emb-test', usage: { promptTokens: 10 } });
    expect(fake.requests.map((request) => request.body.input)).toEqual([['alpha', 'be'], ['gamma ray', 'd'], ['epsilon']]);
    expect(fake.requests[0]).toMatchObject({ path: '/v1/embeddings', authorization: `Bearer ${API_KEY}`, body: { model: 'emb-test', encoding_format: 'base64' } });
  });

  it('texts asked for one at a time, at the same time, share requests; each caller gets its own vectors', async () => {
    fake.requests.length = 0;
    const provider = providerFor('emb', { provider: 'openai_compatible', model_name: 'm', embedding_model: 'emb-test', base_url: fake.baseUrl });
    const texts = Array.from({ length: 40 }, (_, i) => `text number ${i}`);
    const results = await Promise.all(texts.map((text) => embedTexts(provider, [text], signal)));
    expect(results.map((result) => result.vectors[0])).toEqual(texts.map(expected));
    expect(fake.requests.length).toBeLessThan(5);
    expect(fake.requests.flatMap((request) => request.body.input as string[]).sort()).toEqual([...texts].sort());
  });

  it('a cancelled caller leaves its batch; the others get their answers', async () => {
    fake.requests.length = 0;
    const provider = providerFor('emb', { provider: 'openai_compatible', model_name: 'm', embedding_model: 'emb-test', base_url: fake.baseUrl });
    const cancelled = new AbortController();
    const gone = embedTexts(provider, ['gone'], cancelled.signal);
    const kept = embedTexts(provider, ['kept'], signal);
    cancelled.abort(new Error('cancelled'));
    await expect(gone).rejects.toThrow('cancelled');
    expect((await kept).vectors).toEqual([expected('kept')]);
    expect(fake.requests.map((request) => request.body.input)).toEqual([['kept']]);
  });

  it('azure_openai: the embedding deployment is in the path', async () => {
    fake.requests.length = 0;
    const provider = providerFor('emb', {
      provider: 'azure_openai',
      model_name: 'chat-deployment',
      embedding_deployment: 'embedding-deployment',
      base_url: fake.baseUrl.replace(/\/v1$/, ''),
    }, API_KEY);
    expect((await embedTexts(provider, ['x'], signal)).vectors).toEqual([expected('x')]);
    expect(fake.requests[0]!.path).toBe('/openai/deployments/embedding-deployment/embeddings?api-version=2024-10-21');
  });

  it('a provider error is 39001 after retries; a refused request 22023', async () => {
    const provider = providerFor('emb', { provider: 'openai_compatible', model_name: 'm', base_url: fake.baseUrl, max_retries: 0 });
    fake.script({ kind: 'error', status: 500, message: 'embedding backend down' });
    await expect(embedTexts(provider, ['x'], signal)).rejects.toMatchObject({ sqlstate: '39001', message: expect.stringContaining('embedding backend down') });
    fake.script({ kind: 'error', status: 400, message: 'input too long' });
    await expect(embedTexts(provider, ['x'], signal)).rejects.toMatchObject({ sqlstate: '22023' });
  });

  it('anthropic has none: 0A000 with a hint, without a request', async () => {
    fake.requests.length = 0;
    const provider = providerFor('emb', { provider: 'anthropic', model_name: 'claude-test', base_url: fake.baseUrl }, API_KEY);
    await expect(embedTexts(provider, ['x'], signal)).rejects.toMatchObject({ sqlstate: '0A000', hint: expect.stringContaining('openai') });
    expect(fake.requests).toHaveLength(0);
  });

  it('mock: the local embedding, deterministic, unit length, closer for texts that share words', async () => {
    const provider = providerFor('emb', { provider: 'mock', embedding_dimensions: 32 });
    const [cats, kittens, tax] = (await embedTexts(provider, ['cats sleep on warm mats', 'the cat sleeps on a mat', 'quarterly tax filing deadline'], signal)).vectors;
    expect(cats).toHaveLength(32);
    expect(Math.hypot(...cats!)).toBeCloseTo(1, 10);
    expect(localEmbedding('cats sleep on warm mats', 32)).toEqual(cats);
    const cosine = (a: number[], b: number[]) => a.reduce((sum, value, i) => sum + value * b[i]!, 0);
    expect(cosine(cats!, kittens!)).toBeGreaterThan(cosine(cats!, tax!));
  });
});
