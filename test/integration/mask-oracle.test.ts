// Review29: whatever a provider says is masked where it holds a run of 8 characters of the key, so an answer that
// repeats the caller's own text tells the caller which of its strings are runs of the key. Any role may call any
// model, and the proxy's default model carries the operator's key: starting from a key's public prefix ("sk-proj-"
// is 8 characters), a role asks the model to repeat every one-character extension of what it knows and reads off
// the one that came back masked, a character a call. A model that repeats its prompt stands for any model asked to
// ("Repeat exactly: …"). Two roles, a fake provider on loopback.

import { describe, expect, it } from 'vitest';
import { freshDatabase } from '../support/database.js';
import { clientOf, DEFAULT_KEY, pgAiSuite } from '../support/pg-ai.js';
import type pg from 'pg';

const suite = pgAiSuite();
const ALPHABET = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_';
/** The part of a key anyone knows: its provider's prefix, 8 characters as OpenAI's sk-proj- is. */
const KNOWN = 8;
const echo = (): void => suite.fake.script(...Array.from({ length: 64 }, () => ({ kind: 'reply' as const, answer: (messages: Array<{ content: string }>) => messages.at(-1)!.content })));

/** The key as far as masked echoes of `ask` give it away, from its first KNOWN characters on. */
async function recovered(ask: (prompt: string) => Promise<string>, prefix: string, length: number): Promise<string> {
  let known = prefix;
  while (known.length < length) {
    const seed = known.slice(-7);
    const candidates = [...ALPHABET].map((character) => seed + character);
    const answer = (await ask(candidates.join(' '))).split(' ');
    const hit = candidates.findIndex((candidate, i) => answer[i] !== candidate);
    if (hit < 0) break;
    known += ALPHABET[hit];
  }
  return known;
}

describe('the masking of a provider’s answer', () => {
  it("does not tell a role the proxy's default key a character a call", async () => {
    const { name } = await freshDatabase();
    await (await clientOf(suite.proxy, name)).query('CREATE EXTENSION pg_llm');
    const mallory: pg.Client = await clientOf(suite.proxy, name, 'trust');
    echo();
    const ask = async (prompt: string): Promise<string> => (await mallory.query('SELECT llm_ask($1) AS a', [prompt])).rows[0].a;
    const guessed = await recovered(ask, DEFAULT_KEY.slice(0, KNOWN), DEFAULT_KEY.length);
    suite.fake.unscript();
    expect(guessed.length).toBeLessThan(KNOWN + 4);
  });

  it("does not tell a role another role's model key a character a call", async () => {
    const { name } = await freshDatabase();
    const alice = await clientOf(suite.proxy, name);
    await alice.query('CREATE EXTENSION pg_llm');
    const key = 'sk-proj-Q7vX2mKp9LwZ4tRb';
    const config = { model_name: 'gpt-test', base_url: suite.fake.baseUrl, max_retries: 0 };
    await alice.query(`SELECT pg_llm_add_model(false, 'openai', 'alices', '${key}', $1)`, [JSON.stringify(config)]);
    const mallory = await clientOf(suite.proxy, name, 'trust');
    echo();
    const ask = async (prompt: string): Promise<string> => (await mallory.query(`SELECT pg_llm_chat('alices', $1) AS a`, [prompt])).rows[0].a;
    const guessed = await recovered(ask, key.slice(0, KNOWN), key.length);
    suite.fake.unscript();
    expect(guessed.length).toBeLessThan(KNOWN + 4);
  });
});
