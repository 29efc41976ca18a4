// The parser's thread is one for the whole proxy, and its queue (16 places) is shared out by login role: a role's
// sessions share that role's places and turns. One role that opens many sessions, each sending a statement with the
// most code the proxy parses (a second or two each), holds up only its own statements; another role's statement over
// 16 KiB that calls an LLM function (an inline prompt of 20 kB) gets a place and the next turn (review 20: places
// were per session, and that role kept the queue full, every other role refused with 53000). Two ordinary roles on
// one database, the fake provider on loopback.

import pg from 'pg';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { afterThisTest } from '../support/database.js';
import { databaseWithModel, proxyAndFakeProvider } from '../support/models.js';
import { connection, type Role } from '../support/proxy.js';

const shared = proxyAndFakeProvider();
/** One more session than the queue has places: one statement being parsed, the others waiting. */
const FLOODING_SESSIONS = 17;

async function through(role: Role, database: string): Promise<pg.Client> {
  const client = new pg.Client(connection(shared.proxy.port, role, database));
  await client.connect();
  afterThisTest(() => client.end());
  return client;
}

/** A statement calling an LLM function with about 120 kB of code (under the 128 kB the proxy parses): slow to parse. */
const slowToParse = `SELECT pg_llm_chat('llm', 'x') WHERE false AND 1 IN (${'1,'.repeat(60_000)}1)`;

describe("big statements waiting for the parser's thread", () => {
  it("of one role's many sessions leave a place for another role's statement", async () => {
    const { name } = await databaseWithModel(shared.proxy, shared.fake, 'openai');
    const flooders = await Promise.all(Array.from({ length: FLOODING_SESSIONS }, () => through('trust', name)));
    const victim = await through('password', name);

    const flood = flooders.map((client) => client.query(slowToParse).catch((error: Error) => error));
    // Long enough for the flood's messages to reach the proxy; its parses take seconds more.
    await sleep(1000);
    shared.fake.script({ kind: 'answer', content: 'summary' });
    const answer = victim.query(`SELECT pg_llm_chat('llm', $$${'Quarterly figures. '.repeat(1100)}$$) AS a`).then(
      (result) => result.rows[0].a as string,
      (error: { code?: string; message: string }) => `${error.code}: ${error.message}`,
    );
    expect(await answer).toBe('summary');
    await Promise.all(flood);
  }, 120_000);
});
