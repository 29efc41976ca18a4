// The leases of the jobs an llm.call worker holds: a job whose lease ran out while the worker still runs it is not
// claimed again by a claim of its own (which would run it twice), and a job whose lease another worker took is no
// longer asked about by this one, whose place goes to the next job.

import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { databaseWithModel, proxyAndFakeProvider } from '../support/models.js';
import { startWorker } from '../support/worker.js';

const EVENTUALLY = { timeout: 10_000 };

const shared = proxyAndFakeProvider();

async function rows(client: pg.Client, sql: string): Promise<Array<Record<string, unknown>>> {
  return (await client.query(sql)).rows;
}

/** The last message of each request the fake model was asked, in order. */
function asked(): string[] {
  return shared.fake.requests.map((request) => (request.body as { messages: Array<{ content: string }> }).messages.at(-1)!.content);
}

async function docsTable(client: pg.Client): Promise<void> {
  await client.query(`CREATE TABLE docs (id int PRIMARY KEY, body text, summary text)`);
  await client.query(`CREATE TRIGGER enrich AFTER INSERT ON docs FOR EACH ROW EXECUTE FUNCTION llm.call('{body}', 'summary', 'model=llm')`);
}

const answer = (messages: Array<{ content: string }>): string => `answer to ${messages.at(-1)!.content}`;

describe('llm.call worker, the leases of the jobs it holds', () => {
  it('never runs a job twice at once when its lease ran out while it held it: a claim of its own does not take it again', async () => {
    const { name, client } = await databaseWithModel(shared.proxy, shared.fake, 'openai');
    await docsTable(client);
    const slow = { kind: 'reply' as const, answer, delayMs: 1500 };
    shared.fake.script(slow, slow, slow, slow);
    // A long lease, renewed every 20 s: the test stands in for renewals that did not reach the database in time. A
    // place is left free while job 1 runs, so that the worker claims meanwhile.
    startWorker(name, { concurrency: 2, leaseMs: 60_000 });
    await client.query(`INSERT INTO docs VALUES (1, 'one', NULL)`);
    await expect.poll(() => shared.fake.requests.length, EVENTUALLY).toBe(1);
    await client.query(`UPDATE llm.queue SET lease_until = now() - interval '1 second' WHERE row_pk = '{"id": 1}'`);
    // Its notification makes the worker claim: job 1, due again, comes first.
    await client.query(`INSERT INTO docs VALUES (2, 'two', NULL)`);
    await expect.poll(() => rows(client, `SELECT id, summary FROM docs ORDER BY id`), EVENTUALLY).toEqual([
      { id: 1, summary: 'answer to one' },
      { id: 2, summary: 'answer to two' },
    ]);
    await new Promise((resolve) => setTimeout(resolve, 2000));
    expect(asked().sort()).toEqual(['one', 'two']);
  });

  it('stops asking about a job another worker took from it, leaves that job alone and gives its place to the next', async () => {
    const { name, client } = await databaseWithModel(shared.proxy, shared.fake, 'openai');
    await docsTable(client);
    let answerHeld!: () => void;
    const held = new Promise<void>((resolve) => (answerHeld = resolve));
    // Without those the test before left untaken, which would go first.
    shared.fake.unscript();
    shared.fake.script({ kind: 'reply', answer, hold: held }, { kind: 'reply', answer });
    try {
      // Leases renewed every 200 ms; one place, held by job 1 for as long as it is this worker's.
      startWorker(name, { concurrency: 1, leaseMs: 600 });
      await client.query(`INSERT INTO docs VALUES (1, 'one', NULL)`);
      await expect.poll(() => shared.fake.requests.length, EVENTUALLY).toBe(1);
      // As a claim of another worker leaves it, once job 1's lease had run out.
      await client.query(`UPDATE llm.queue SET worker = 'another worker', lease_until = now() + interval '1 hour' WHERE row_pk = '{"id": 1}'`);
      await client.query(`INSERT INTO docs VALUES (2, 'two', NULL)`);
      await expect.poll(() => rows(client, `SELECT id, summary FROM docs ORDER BY id`), EVENTUALLY).toEqual([
        { id: 1, summary: null },
        { id: 2, summary: 'answer to two' },
      ]);
      expect(shared.fake.requests[0]!.aborted).toBe(true);
      expect(asked()).toEqual(['one', 'two']);
      expect(await rows(client, `SELECT status, worker, attempts FROM llm.queue WHERE row_pk = '{"id": 1}'`)).toEqual([{ status: 'processing', worker: 'another worker', attempts: 1 }]);
    } finally {
      answerHeld();
    }
  });
});
