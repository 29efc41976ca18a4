// Any role may NOTIFY the channels the workers listen on. A vectorizer wake looked for the vectorizers served, two
// statements, for each notification: one statement of another role's sending 20,000 notifications queued 40,000
// statements on the worker's pool, ahead of every claim and write-back of every owner's worker of the database, for
// as long as they took (200,000 held a worker for minutes and the proxy at 1.3 GB). Counted on a relay between the
// worker and the server (upstream-turns.ts).

import { describe, expect, it } from 'vitest';
import { afterThisTest } from '../support/database.js';
import { cluster } from '../support/proxy.js';
import { connectAs } from '../support/roles.js';
import { TcpRelay } from '../support/tcp-relay.js';
import { docsDatabase, startWorker } from '../support/worker.js';

const NOTIFICATIONS = 20_000;

describe('llm.call worker, notifications of other roles', () => {
  it("looks for vectorizers a few times, not once per notification, and gets on with the owner's jobs", async () => {
    const { name, client } = await docsDatabase({ mock_mode: 'md5' }, `'{body}', 'summary', 'model=m'`);
    const relay = await TcpRelay.start(cluster().port);
    afterThisTest(() => relay.stop());
    startWorker(name, { pollMs: 60_000 }, { env: {} }, 'postgres', relay.port);
    const answered = async (id: number) => (await client.query(`SELECT summary IS NOT NULL AS done FROM docs WHERE id = $1`, [id])).rows[0]?.done;
    await client.query(`INSERT INTO docs VALUES (1, 'one')`);
    await expect.poll(() => answered(1), { timeout: 10_000 }).toBe(true);
    const before = relay.requests.turns;

    const other = await connectAs('trust', name);
    await other.query(`SELECT count(pg_notify('pg_llm_vectorizer', g::text)) FROM generate_series(1, ${NOTIFICATIONS}) g`);
    await client.query(`INSERT INTO docs VALUES (2, 'two')`);
    await expect.poll(() => answered(2), { timeout: 120_000, interval: 100 }).toBe(true);
    expect(relay.requests.turns - before).toBeLessThan(NOTIFICATIONS / 20);
  });
});
