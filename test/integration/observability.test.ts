// Feedback, the audit and trace logs read back through their functions, and row-level security keeping two roles'
// rows apart (an admin role sees both), through the proxy.

import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { afterThisTest, freshDatabase } from '../support/database.js';
import { connection, startProxy, type TestProxy } from '../support/proxy.js';
import { roles } from '../support/roles.js';

let proxy: TestProxy;
beforeAll(async () => {
  proxy = await startProxy();
});
afterAll(() => proxy.stop());

async function setup() {
  const { name, client: direct } = await freshDatabase();
  const connect = async () => {
    const client = new pg.Client(connection(proxy.port, 'postgres', name));
    await client.connect();
    afterThisTest(() => client.end());
    return client;
  };
  const client = await connect();
  await client.query('CREATE EXTENSION pg_llm');
  await client.query(`SELECT pg_llm_add_model(false, 'mock', 'm', NULL, '{"mock_response": "ok", "mock_confidence": 0.9}')`);
  const one = async (c: pg.Client, sql: string, values: unknown[] = []) => Object.values((await c.query(sql, values)).rows[0]!)[0] as any;
  return { client, direct, connect, one };
}

describe('feedback, audit log and trace', () => {
  it('feedback is stored per request_id; bad input is refused', async () => {
    const { client, direct, one } = await setup();
    const requestId = (await one(client, `SELECT pg_llm_chat_json('m', 'q')`)).request_id;
    const id = await one(client, `SELECT pg_llm_record_feedback($1, 5, 'spot on', '{"source": "ui"}')`, [requestId]);
    expect(Number(id)).toBeGreaterThan(0);
    expect((await direct.query(`SELECT request_id, rating, feedback, metadata FROM _pg_llm_catalog.pg_llm_feedback`)).rows).toEqual([
      { request_id: requestId, rating: 5, feedback: 'spot on', metadata: { source: 'ui' } },
    ]);
    await expect(client.query(`SELECT pg_llm_record_feedback($1, NULL, 'x')`, [requestId])).rejects.toMatchObject({ code: '22004' });
    await expect(client.query(`SELECT pg_llm_record_feedback('not-a-uuid', 1, 'x')`)).rejects.toMatchObject({ code: '22P02' });
    await expect(client.query(`SELECT pg_llm_record_feedback($1, 1, 'x', '[1]')`, [requestId])).rejects.toMatchObject({ code: '22023' });
  });

  it('the audit log, newest first, filtered and limited by the options', async () => {
    const { client, one } = await setup();
    await client.query(`SELECT pg_llm_chat('m', 'q' || i) FROM generate_series(1, 3) AS i`);
    const last = (await one(client, `SELECT pg_llm_chat_json('m', 'last')`)).request_id;
    const rows = (await client.query(`SELECT request_id, event_type, instance_name, success, confidence_score, metadata FROM pg_llm_get_audit_log()`)).rows;
    expect(rows).toHaveLength(4);
    expect(rows[0]).toMatchObject({ request_id: last, event_type: 'chat', instance_name: 'm', success: true, confidence_score: 0.9, metadata: { model_name: 'mock' } });
    expect((await client.query(`SELECT * FROM pg_llm_get_audit_log('{"limit": 2}')`)).rows).toHaveLength(2);
    expect((await client.query(`SELECT * FROM pg_llm_get_audit_log($1)`, [JSON.stringify({ request_id: last })])).rows).toHaveLength(1);
    expect((await client.query(`SELECT * FROM pg_llm_get_audit_log('{"event_type": "parallel_chat"}')`)).rows).toHaveLength(0);
    await expect(client.query(`SELECT * FROM pg_llm_get_audit_log('{"limit": -1}')`)).rejects.toMatchObject({ code: '22023' });
    await expect(client.query(`SELECT * FROM pg_llm_get_audit_log('{"limit": 1e20}')`)).rejects.toMatchObject({ code: '22023', message: 'options.limit must be a whole number from 0 to 2147483647' });
    await expect(client.query(`SELECT * FROM pg_llm_get_audit_log('{"limit": ')`)).rejects.toMatchObject({ code: '22P02' });
  });

  it('pg_llm_get_trace gives the events of a traced request, and none of an untraced one', async () => {
    const { client, one } = await setup();
    const untraced = (await one(client, `SELECT pg_llm_chat_json('m', 'q')`)).request_id;
    expect(await one(client, `SELECT pg_llm_get_trace($1)`, [untraced])).toEqual({ request_id: untraced, events: [] });
    await client.query(`SET pg_llm.trace_enabled = on`);
    const traced = (await one(client, `SELECT pg_llm_chat_json('m', 'q')`)).request_id;
    const trace = await one(client, `SELECT pg_llm_get_trace($1)`, [traced]);
    expect(trace.events).toHaveLength(1);
    expect(trace.events[0]).toMatchObject({ step: 'routing', detail: { instance_name: 'm', decision: 'accepted' } });
  });
});

describe('row-level security', () => {
  it('two roles see only their own sessions, audit, trace and feedback; an admin role sees both', async () => {
    const [alice, bob, auditor] = await roles('alice', 'bob', 'auditor');
    const { client, direct, connect, one } = await setup();
    await direct.query(`INSERT INTO _pg_llm_catalog.pg_llm_config VALUES ('admin_role', $1) ON CONFLICT (name) DO UPDATE SET value = excluded.value`, [auditor]);
    const asAlice = client;
    const asBob = await connect();
    await asAlice.query(`SET ROLE ${alice}`);
    await asBob.query(`SET ROLE ${bob}`);
    for (const c of [asAlice, asBob]) await c.query(`SET pg_llm.trace_enabled = on`);
    const aliceSession = await one(asAlice, `SELECT pg_llm_create_session()`);
    await asAlice.query(`SELECT pg_llm_multi_turn_chat('m', $1, 'secret plans')`, [aliceSession]);
    const aliceRequest = (await one(asAlice, `SELECT pg_llm_chat_json('m', 'q')`)).request_id;
    await asAlice.query(`SELECT pg_llm_record_feedback($1, 1, 'fine')`, [aliceRequest]);
    await asBob.query(`SELECT pg_llm_create_session()`);

    expect((await asBob.query(`SELECT * FROM pg_llm_get_sessions()`)).rows).toHaveLength(1);
    await expect(asBob.query(`SELECT * FROM pg_llm_get_session_messages($1)`, [aliceSession])).rejects.toMatchObject({ code: '42704' });
    await expect(asBob.query(`SELECT pg_llm_multi_turn_chat('m', $1, 'peek')`, [aliceSession])).rejects.toMatchObject({ code: '42704' });
    expect(await one(asBob, `SELECT pg_llm_delete_session($1)`, [aliceSession])).toBe(false);
    expect((await asBob.query(`SELECT * FROM pg_llm_get_audit_log()`)).rows).toHaveLength(0);
    expect(await one(asBob, `SELECT pg_llm_get_trace($1)`, [aliceRequest])).toEqual({ request_id: aliceRequest, events: [] });
    expect((await asBob.query(`SELECT count(*)::int AS n FROM _pg_llm_catalog.pg_llm_feedback`)).rows[0].n).toBe(0);
    await expect(asBob.query(`INSERT INTO _pg_llm_catalog.pg_llm_audit_log (request_id, event_type, success, role_name) VALUES (gen_random_uuid(), 'x', true, $1)`, [alice])).rejects.toMatchObject({ code: '42501' });

    expect((await asAlice.query(`SELECT * FROM pg_llm_get_sessions()`)).rows).toHaveLength(1);
    expect((await asAlice.query(`SELECT * FROM pg_llm_get_audit_log()`)).rows).toHaveLength(2);

    await direct.query(`GRANT ${auditor} TO ${bob}`);
    expect((await asBob.query(`SELECT * FROM pg_llm_get_sessions()`)).rows).toHaveLength(2);
    expect((await asBob.query(`SELECT * FROM pg_llm_get_audit_log()`)).rows).toHaveLength(2);
    await direct.query(`REVOKE ${auditor} FROM ${bob}`);
  });

  it("rows another role adds later under a request's id are not part of that request for an admin", async () => {
    const [alice, bob, auditor] = await roles('alice', 'bob', 'auditor');
    const { client, direct, connect, one } = await setup();
    await direct.query(`INSERT INTO _pg_llm_catalog.pg_llm_config VALUES ('admin_role', $1) ON CONFLICT (name) DO UPDATE SET value = excluded.value`, [auditor]);
    const asBob = await connect();
    const asAuditor = await connect();
    await client.query(`SET ROLE ${alice}`);
    await asBob.query(`SET ROLE ${bob}`);
    await asAuditor.query(`SET ROLE ${auditor}`);
    await client.query(`SET pg_llm.trace_enabled = on`);
    const request = (await one(client, `SELECT pg_llm_chat_json('m', 'q')`)).request_id;
    const genuine = await one(asAuditor, `SELECT pg_llm_get_trace($1)`, [request]);
    expect(genuine.events.length).toBeGreaterThan(0);
    expect(genuine.events.every((event: { role_name: string }) => event.role_name === alice)).toBe(true);

    await asBob.query(`INSERT INTO _pg_llm_catalog.pg_llm_trace_log (request_id, step, detail) VALUES ($1, 'routing', '{"decision": "fallback"}')`, [request]);
    await asBob.query(`INSERT INTO _pg_llm_catalog.pg_llm_audit_log (request_id, event_type, instance_name, success, metadata) VALUES ($1, 'chat', 'm', false, '{"cost_usd": 999}')`, [request]);
    expect(await one(asAuditor, `SELECT pg_llm_get_trace($1)`, [request])).toEqual(genuine);
    const audit = (await asAuditor.query(`SELECT success, metadata FROM pg_llm_get_audit_log($1)`, [JSON.stringify({ request_id: request })])).rows;
    expect(audit).toHaveLength(1);
    expect(audit[0].success).toBe(true);
  });

  it('an operator of the caller\'s own, first in its search_path, does not make it an admin', async () => {
    const [alice, bob] = await roles('alice', 'bob');
    const { client, direct, connect } = await setup();
    const asBob = await connect();
    await direct.query(`CREATE SCHEMA bobs AUTHORIZATION ${bob}`);
    afterThisTest(async () => void (await direct.query('DROP SCHEMA IF EXISTS bobs CASCADE')));
    await client.query(`SET ROLE ${alice}`);
    await client.query(`SELECT pg_llm_create_session()`);
    await asBob.query(`SET ROLE ${bob}`);
    await asBob.query(`CREATE FUNCTION bobs.always(name, text) RETURNS boolean LANGUAGE sql AS 'SELECT true'`);
    await asBob.query(`CREATE OPERATOR bobs.= (LEFTARG = name, RIGHTARG = text, FUNCTION = bobs.always)`);
    await asBob.query(`SET search_path = bobs, pg_catalog, public`);
    expect((await asBob.query(`SELECT _pg_llm_catalog.is_admin() AS admin`)).rows).toEqual([{ admin: false }]);
    expect((await asBob.query(`SELECT * FROM pg_llm_get_sessions()`)).rows).toHaveLength(0);
  });

  it('only the role that registered a model (or an admin) may replace or remove it; every role may use it', async () => {
    const [alice, bob] = await roles('alice', 'bob');
    const { client, connect, one } = await setup();
    const asBob = await connect();
    await client.query(`SET ROLE ${alice}`);
    await asBob.query(`SET ROLE ${bob}`);
    await client.query(`SELECT pg_llm_add_model(false, 'mock', 'alices', NULL, '{"mock_response": "from alice"}')`);
    expect(await one(asBob, `SELECT pg_llm_chat('alices', 'q')`)).toBe('from alice');
    await expect(asBob.query(`SELECT pg_llm_add_model(false, 'mock', 'alices', NULL, '{"mock_response": "hijacked"}')`)).rejects.toMatchObject({ code: '42501' });
    expect(await one(asBob, `SELECT pg_llm_remove_model('alices')`)).toBe(false);
    expect(await one(client, `SELECT pg_llm_chat('alices', 'q')`)).toBe('from alice');
    expect(await one(client, `SELECT pg_llm_remove_model('alices')`)).toBe(true);
  });
});
