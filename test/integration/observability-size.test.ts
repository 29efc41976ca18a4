// Any role may write audit and trace rows of its own with INSERT, their metadata and detail as big as jsonb takes,
// and pg_llm_get_audit_log and pg_llm_get_trace had the server send every row they found, which the proxy parsed on
// the event loop every session shares (an admin's read takes in every role's rows). Each now reads at most 32 MiB
// (the rows' text and 1 kB for each), the server measuring it and sending none of more.

import { randomUUID } from 'node:crypto';
import { expect, it } from 'vitest';
import { MAX_READ_BYTES } from '../../src/catalog/measured-read.js';
import { databaseWithModel } from '../support/models.js';
import { relayedProxyAndFakeProvider } from '../support/relayed-proxy.js';

const shared = relayedProxyAndFakeProvider();
const AUDIT = '_pg_llm_catalog.pg_llm_audit_log';

it('refuses audit rows too big or too many with 54000, before the server sends them', async () => {
  const { client } = await databaseWithModel(shared.proxy, shared.fake, 'openai');
  await client.query(`INSERT INTO ${AUDIT} (request_id, event_type, success, metadata) VALUES ($1, 'chat', true, jsonb_build_object('pad', repeat('p', ${2 * MAX_READ_BYTES})))`, [randomUUID()]);
  let before = shared.relay.bytesFromTarget;
  await expect(client.query(`SELECT * FROM pg_llm_get_audit_log()`)).rejects.toMatchObject({ code: '54000', message: expect.stringContaining('audit rows'), hint: expect.stringContaining('limit') });
  // Before: the metadata sent whole, and let go only by the proxy's own bound on what it keeps.
  expect(shared.relay.bytesFromTarget - before).toBeLessThan(MAX_READ_BYTES / 4);
  await client.query(`TRUNCATE ${AUDIT}`);
  await client.query(`INSERT INTO ${AUDIT} (request_id, event_type, success) SELECT gen_random_uuid(), 'chat', true FROM generate_series(1, 40000)`);
  before = shared.relay.bytesFromTarget;
  await expect(client.query(`SELECT * FROM pg_llm_get_audit_log('{"limit": 40000}')`)).rejects.toMatchObject({ code: '54000' });
  // Before: all 40,000 rows sent.
  expect(shared.relay.bytesFromTarget - before).toBeLessThan(64 * 1024);
  const { rows } = await client.query(`SELECT event_type, metadata FROM pg_llm_get_audit_log()`);
  expect(rows).toHaveLength(100);
  expect(rows[0]).toEqual({ event_type: 'chat', metadata: {} });
}, 120_000);

it('refuses a trace too big with 54000, before the server sends it', async () => {
  const { client } = await databaseWithModel(shared.proxy, shared.fake, 'openai');
  const requestId = randomUUID();
  await client.query(`INSERT INTO _pg_llm_catalog.pg_llm_trace_log (request_id, step) VALUES ($1, 'schema')`, [requestId]);
  await client.query(`INSERT INTO _pg_llm_catalog.pg_llm_trace_log (request_id, step, detail) VALUES ($1, 'answer', jsonb_build_object('pad', repeat('p', ${2 * MAX_READ_BYTES})))`, [requestId]);
  const before = shared.relay.bytesFromTarget;
  await expect(client.query(`SELECT pg_llm_get_trace($1)`, [requestId])).rejects.toMatchObject({ code: '54000', message: expect.stringContaining(requestId) });
  // Before: the detail sent whole, then parsed.
  expect(shared.relay.bytesFromTarget - before).toBeLessThan(MAX_READ_BYTES / 4);
  await client.query(`DELETE FROM _pg_llm_catalog.pg_llm_trace_log WHERE step = 'answer'`);
  const [row] = (await client.query(`SELECT pg_llm_get_trace($1) AS t`, [requestId])).rows;
  expect(row.t).toMatchObject({ request_id: requestId, events: [{ step: 'schema', detail: {}, role_name: 'postgres' }] });
}, 120_000);
