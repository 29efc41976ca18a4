// enable_rag: a chat call given the knowledge chunks most like its prompt, through the proxy and the real SDK
// against the fake provider, which records what the model was sent.

import { describe, expect, it } from 'vitest';
import { databaseWithModel, proxyAndFakeProvider } from '../support/models.js';

const shared = proxyAndFakeProvider();

async function setup() {
  const { client } = await databaseWithModel(shared.proxy, shared.fake, 'openai_compatible', {}, null);
  await client.query(`SELECT pg_llm_add_knowledge('handbook', 'PostgreSQL is a relational database. VACUUM reclaims the space of dead rows.')`);
  await client.query(`SELECT pg_llm_add_knowledge('menu', 'Our cafe serves espresso, tea and croissants every morning.')`);
  const sent = (i: number) => (shared.fake.requests[i]!.body.messages as Array<{ role: string; content: string }>).at(-1)!.content;
  const chatJson = async (prompt: string, options: unknown) =>
    (await client.query(`SELECT pg_llm_chat_json('llm', $1, $2::jsonb) AS j`, [prompt, JSON.stringify(options)])).rows[0]!.j;
  return { client, sent, chatJson };
}

describe('enable_rag', () => {
  it('gives the model the most similar chunks before the question, and says which in the answer', async () => {
    const { sent, chatJson } = await setup();
    shared.fake.script({ kind: 'answer', content: 'It marks dead rows free.' });
    const answer = await chatJson('how does vacuum reclaim space', { enable_rag: true, rag_limit: 1 });
    expect(sent(0)).toMatch(/^Use the following excerpts[\s\S]*\[1\] \(handbook\) PostgreSQL is a relational database\. VACUUM reclaims[\s\S]*\n\nQuestion: how does vacuum reclaim space$/);
    expect(sent(0)).not.toContain('espresso');
    expect(answer.knowledge).toEqual([{ chunk_id: expect.any(Number), source_name: 'handbook', similarity: expect.any(Number) }]);
  });

  it('without it, or with no chunk similar enough, the prompt goes alone', async () => {
    const { sent, chatJson } = await setup();
    shared.fake.script({ kind: 'answer', content: 'a' }, { kind: 'answer', content: 'b' });
    expect((await chatJson('how does vacuum reclaim space', {})).knowledge).toBeUndefined();
    expect(sent(0)).toBe('how does vacuum reclaim space');
    expect((await chatJson('quantum chromodynamics', { enable_rag: true, rag_min_similarity: 0.99 })).knowledge).toBeUndefined();
    expect(sent(1)).toBe('quantum chromodynamics');
  });

  it('a fallback answers the same grounded prompt; parallel candidates share one search', async () => {
    const { client, sent } = await setup();
    await client.query(`SELECT pg_llm_add_model(false, 'mock', 'unsure', NULL, '{"mock_confidence": 0.1, "fallback_instance": "llm"}')`);
    shared.fake.script({ kind: 'answer', content: 'from the fallback' });
    const routed = (await client.query(`SELECT pg_llm_chat_json('unsure', 'what does the cafe serve', '{"enable_rag": true}') AS j`)).rows[0]!.j;
    expect(routed).toMatchObject({ response: 'from the fallback', instance_name: 'llm', fallback_used: true, knowledge: [{ source_name: 'menu' }] });
    expect(sent(0)).toContain('(menu) Our cafe serves espresso');
    await client.query(`SET pg_llm.trace_enabled = on`);
    shared.fake.script({ kind: 'answer', content: 'parallel' });
    const parallel = (await client.query(`SELECT pg_llm_parallel_chat_json('what does the cafe serve', ARRAY['llm', 'unsure'], '{"enable_rag": true}') AS j`)).rows[0]!.j;
    expect(parallel).toMatchObject({ response: 'parallel', knowledge: [{ source_name: 'menu' }] });
    expect(sent(1)).toContain('(menu) Our cafe serves espresso');
    const steps = (await client.query(`SELECT e->>'step' AS step FROM jsonb_array_elements(pg_llm_get_trace($1)->'events') AS e`, [parallel.request_id])).rows;
    expect(steps.filter((row) => row.step === 'rag')).toHaveLength(1);
  });

  it('refuses an enable_rag that is not a Boolean', async () => {
    const { chatJson } = await setup();
    await expect(chatJson('q', { enable_rag: 'yes' })).rejects.toMatchObject({ code: '22023', message: 'enable_rag must be true or false' });
  });
});
