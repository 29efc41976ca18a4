// The worker's write-backs in batches: the answers of one table's jobs are written in one transaction (so their rows
// share an xmin), each job still written only while its row holds the prompt's values, by the table's owner, and a
// batch that fails is written job by job. The answers are made to gather: the write-back of a row the test holds
// locked waits, and the table's next batch gathers behind it until the test lets go.

import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { migrate } from '../../src/catalog/migrate.js';
import { WORKER_PRIVILEGES } from '../../src/worker/queue.js';
import type { QueueWorker } from '../../src/worker/worker.js';
import { afterThisTest, freshDatabase } from '../support/database.js';
import { cluster, connection } from '../support/proxy.js';
import { startWorker } from '../support/worker.js';

const EVENTUALLY = { timeout: 15_000 };
/** The mock model's answer time: short, so that waiting for the answers of a few jobs is waiting for this. */
const CALL_MS = 50;

async function rows(client: pg.Client, sql: string): Promise<Array<Record<string, unknown>>> {
  return (await client.query(sql)).rows;
}

/** A database with the catalog, the mock model 'm' answering md5 of the prompt, and a second connection to it. */
async function modelDatabase(): Promise<{ name: string; client: pg.Client; other: pg.Client }> {
  const { name, client } = await freshDatabase();
  await migrate(client);
  await client.query(`INSERT INTO _pg_llm_catalog.pg_llm_models (instance_name, model_type, config) VALUES ('m', 'mock', $1)`, [
    JSON.stringify({ mock_mode: 'md5', mock_latency_ms: CALL_MS }),
  ]);
  const other = new pg.Client(connection(cluster().port, 'postgres', name));
  await other.connect();
  afterThisTest(() => other.end());
  return { name, client, other };
}

async function enrichedTable(client: pg.Client, table: string, owner?: string): Promise<void> {
  await client.query(`CREATE TABLE ${table} (id int PRIMARY KEY, body text, summary text, written_by text)`);
  await client.query(`CREATE TRIGGER enrich AFTER INSERT OR UPDATE ON ${table} FOR EACH ROW EXECUTE FUNCTION llm.call('Summarize: {body}', 'summary', 'model=m', 'max_attempts=1')`);
  // Who writes the answer, and as whom the session logged in, as the table's own code sees it.
  await client.query(`CREATE TRIGGER stamp BEFORE UPDATE ON ${table} FOR EACH ROW EXECUTE FUNCTION stamp()`);
  if (owner) await client.query(`ALTER TABLE ${table} OWNER TO ${owner}`);
}

async function stampFunction(client: pg.Client): Promise<void> {
  await client.query(`CREATE FUNCTION stamp() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.written_by := current_user || '/' || session_user; RETURN NEW; END $$`);
}

/**
 * Runs `write` (which queues jobs through `other`) while the write-back of row 0 of each table is held on the row's
 * lock: the answers of the jobs `write` queues wait behind it, and are written together once `write` has returned.
 * Row 0 is locked before its job can be answered: `start` starts the workers, which return the stopped ones.
 */
async function gatheredBehindRowZero(
  client: pg.Client,
  other: pg.Client,
  tables: string[],
  start: () => QueueWorker[],
  write: () => Promise<void>,
): Promise<QueueWorker[]> {
  for (const table of tables) await other.query(`INSERT INTO ${table} (id, body) VALUES (0, 'held')`);
  await client.query('BEGIN');
  for (const table of tables) await client.query(`SELECT 1 FROM ${table} WHERE id = 0 FOR UPDATE`);
  const workers = start();
  await expect
    .poll(() => rows(other, `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'pg_llm worker' AND wait_event_type = 'Lock'`), EVENTUALLY)
    .toEqual([{ n: tables.length }]);
  await write();
  await expect.poll(() => rows(other, `SELECT count(*)::int AS n FROM llm.queue WHERE status = 'pending'`), EVENTUALLY).toEqual([{ n: 0 }]);
  // The jobs are claimed; their answers come CALL_MS later.
  await sleep(CALL_MS + 1000);
  await client.query('COMMIT');
  await expect.poll(() => rows(client, `SELECT count(*)::int AS n FROM llm.queue WHERE status IN ('pending', 'processing')`), EVENTUALLY).toEqual([{ n: 0 }]);
  return workers;
}

/** The rows other than row 0, and whether each was written in the transaction that wrote the first of them. */
async function writtenTogether(client: pg.Client, table: string): Promise<Array<Record<string, unknown>>> {
  return rows(
    client,
    `SELECT id, summary = md5('Summarize: ' || body) AS answered, xmin = first_value(xmin::text::bigint) OVER (ORDER BY id)::text::xid AS together, written_by
       FROM ${table} WHERE id > 0 ORDER BY id`,
  );
}

describe("the worker's write-back in batches", () => {
  it('writes the answers of a table in one transaction, and leaves out the row whose prompt changed meanwhile', async () => {
    const { name, client, other } = await modelDatabase();
    await stampFunction(client);
    await enrichedTable(client, 'docs');
    await gatheredBehindRowZero(client, other, ['docs'], () => [startWorker(name)], async () => {
      await other.query(`INSERT INTO docs (id, body) VALUES (1, 'one'), (2, 'two'), (3, 'three')`);
      await expect.poll(() => rows(other, `SELECT count(*)::int AS n FROM llm.queue WHERE status = 'processing'`), EVENTUALLY).toEqual([{ n: 4 }]);
      await sleep(CALL_MS + 1000);
      await other.query(`UPDATE docs SET body = 'two, again' WHERE id = 2`);
    });
    // Rows 1 and 3 together; row 2 by the job of its new values, after.
    expect(await writtenTogether(client, 'docs')).toEqual([
      { id: 1, answered: true, together: true, written_by: 'postgres/postgres' },
      { id: 2, answered: true, together: false, written_by: 'postgres/postgres' },
      { id: 3, answered: true, together: true, written_by: 'postgres/postgres' },
    ]);
    expect(await rows(client, `SELECT prompt, status FROM llm.queue WHERE row_pk = '{"id": 2}' ORDER BY id`)).toEqual([
      { prompt: 'Summarize: two', status: 'skipped' },
      { prompt: 'Summarize: two, again', status: 'done' },
    ]);
  });

  it("writes each table's batch as its owner: two owners' tables, each by its owner's worker", async () => {
    const { name, client, other } = await modelDatabase();
    await stampFunction(client);
    const owners = [`alice_${name}`, `bob_${name}`];
    for (const owner of owners) {
      await client.query(`CREATE ROLE ${owner} LOGIN PASSWORD 'secret'`);
      afterThisTest(async () => void (await client.query(`DROP OWNED BY ${owner}; DROP ROLE ${owner}`)));
      await client.query(`GRANT ${WORKER_PRIVILEGES} ON llm.queue TO ${owner}`);
    }
    await enrichedTable(client, 'notes', owners[0]);
    await enrichedTable(client, 'memos', owners[1]);
    const start = () => owners.map((owner) => startWorker(name, {}, { env: {} }, `${owner}:secret`));
    await gatheredBehindRowZero(client, other, ['notes', 'memos'], start, async () => {
      await other.query(`INSERT INTO notes (id, body) VALUES (1, 'a'), (2, 'b')`);
      await other.query(`INSERT INTO memos (id, body) VALUES (1, 'c'), (2, 'd')`);
    });
    for (const [table, owner] of [['notes', owners[0]], ['memos', owners[1]]] as const) {
      expect(await writtenTogether(client, table)).toEqual([1, 2].map((id) => ({ id, answered: true, together: true, written_by: `${owner}/${owner}` })));
    }
  });

  it('writes a batch that fails job by job: the job whose answer is refused fails alone, and the next batch is one again', async () => {
    const { name, client, other } = await modelDatabase();
    await stampFunction(client);
    await enrichedTable(client, 'docs');
    await client.query(`ALTER TABLE docs ADD CONSTRAINT no_poison CHECK (summary IS NULL OR body <> 'poison')`);
    const [first] = await gatheredBehindRowZero(client, other, ['docs'], () => [startWorker(name)], async () => {
      await other.query(`INSERT INTO docs (id, body) VALUES (1, 'one'), (2, 'poison'), (3, 'three')`);
    });
    expect(await rows(client, `SELECT id, summary IS NOT NULL AS answered FROM docs WHERE id > 0 ORDER BY id`)).toEqual([
      { id: 1, answered: true },
      { id: 2, answered: false },
      { id: 3, answered: true },
    ]);
    expect(await rows(client, `SELECT row_pk, status, last_error FROM llm.queue WHERE row_pk <> '{"id": 0}' ORDER BY id`)).toEqual([
      { row_pk: { id: 1 }, status: 'done', last_error: null },
      { row_pk: { id: 2 }, status: 'error', last_error: expect.stringContaining('no_poison') },
      { row_pk: { id: 3 }, status: 'done', last_error: null },
    ]);
    await first!.stop(1000);
    await client.query(`DELETE FROM docs`);
    await gatheredBehindRowZero(client, other, ['docs'], () => [startWorker(name)], async () => {
      await other.query(`INSERT INTO docs (id, body) VALUES (4, 'four'), (5, 'five')`);
    });
    expect(await writtenTogether(client, 'docs')).toEqual([4, 5].map((id) => ({ id, answered: true, together: true, written_by: 'postgres/postgres' })));
  });
});
