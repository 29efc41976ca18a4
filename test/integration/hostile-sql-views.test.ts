// Writes through views, where the SQL runs (explain_query, pg_llm_estimate, EXPLAIN of an LLM statement): a write to
// an automatically updatable view is a write to the relation under it, whose serial default and triggers run. Each
// is refused (38001) and leaves the sequences where they were, while reads of the views, and writes through them
// that fire nothing lasting, still run.

import type { NoticeMessage } from 'pg-protocol/dist/messages.js';
import { describe, expect, it } from 'vitest';
import { pgAiSuite, shopWithModel } from '../support/pg-ai.js';

const suite = pgAiSuite();

type Client = { query: (sql: string, values?: unknown[]) => Promise<{ rows: any[] }> };

const FIXTURES = `
  CREATE SEQUENCE counter;
  CREATE TABLE tickets (id serial PRIMARY KEY, note text);
  CREATE VIEW ticket_view AS SELECT id, note FROM tickets;
  CREATE VIEW ticket_view_view AS SELECT * FROM ticket_view;
  CREATE VIEW renamed AS SELECT id AS ticket, upper(note) AS shout, note AS words FROM tickets;
  CREATE TABLE watched (id integer, note text);
  INSERT INTO watched VALUES (1, 'a');
  CREATE FUNCTION bump() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN PERFORM nextval('counter'); RETURN NEW; END$$;
  CREATE TRIGGER watched_bump BEFORE INSERT OR UPDATE ON watched FOR EACH ROW EXECUTE FUNCTION bump();
  CREATE VIEW watched_view AS SELECT * FROM watched;
  CREATE VIEW watched_view_view AS SELECT * FROM watched_view;
  -- Not written through: only its rule writes.
  CREATE VIEW ruled AS SELECT 1 AS id, 'a'::text AS note;
  CREATE RULE ruled_insert AS ON INSERT TO ruled DO INSTEAD INSERT INTO ticket_view (note) VALUES (NEW.note);
`;

async function sequences(direct: Client) {
  return (await direct.query(`SELECT (SELECT last_value FROM counter) AS counter, (SELECT is_called FROM counter) AS counter_called,
                                     (SELECT last_value FROM tickets_id_seq) AS tickets, (SELECT is_called FROM tickets_id_seq) AS tickets_called`)).rows[0];
}

async function explain(client: Client, sql: string) {
  suite.fake.script({ kind: 'answer', content: 'explained' });
  return (await client.query(`SELECT explain_query($1) AS e`, [sql])).rows[0].e;
}

async function shop() {
  const database = await shopWithModel(suite);
  await database.direct.query(FIXTURES);
  return { ...database, before: await sequences(database.direct) };
}

describe('explain_query writes through a view', () => {
  for (const [sql, says] of [
    ["INSERT INTO ticket_view (note) VALUES ('x')", 'nextval() (through view ticket_view)'],
    ["INSERT INTO ticket_view_view (note) VALUES ('x')", 'nextval() (through view ticket_view_view)'],
    ["INSERT INTO renamed (words) VALUES ('x')", 'nextval() (through view renamed)'],
    ['INSERT INTO ticket_view DEFAULT VALUES', 'nextval() (through view ticket_view)'],
    ["UPDATE watched_view SET note = 'b'", 'bump() (through view watched_view)'],
    ["INSERT INTO watched_view VALUES (2, 'b')", 'bump() (through view watched_view)'],
    ['DELETE FROM watched_view_view', 'bump() (through view watched_view_view)'],
    ["INSERT INTO ruled VALUES (2, 'b')", 'nextval() (through rule ruled_insert on ruled)'],
  ]) {
    it(`${sql} is refused and leaves the sequences where they were`, async () => {
      const { admin, direct, before } = await shop();
      await expect(explain(admin, sql!), sql).rejects.toMatchObject({ code: '38001', message: expect.stringContaining(says!) });
      expect(await sequences(direct)).toEqual(before);
    });
  }

  it('run where they fire nothing lasting, and the views read', async () => {
    const { admin, direct, before } = await shop();
    for (const sql of [
      "UPDATE ticket_view SET note = 'y'",
      "INSERT INTO ticket_view (id, note) VALUES (5, 'x')",
      "INSERT INTO ticket_view_view (id) VALUES (5)",
      "INSERT INTO renamed (ticket, words) VALUES (5, 'x')",
      'INSERT INTO renamed (ticket) VALUES (5)',
      'DELETE FROM ticket_view_view',
      'SELECT * FROM ticket_view_view JOIN watched_view USING (id)',
    ]) {
      expect(await explain(admin, sql), sql).toEqual(expect.any(String));
    }
    expect(await sequences(direct)).toEqual(before);
  });
});

describe('LLM statements writing through a view', () => {
  it('pg_llm_estimate of an INSERT through a view is refused and leaves the sequence where it was', async () => {
    const { admin, direct, before } = await shop();
    await expect(admin.query(`SELECT * FROM pg_llm_estimate($1)`, ["INSERT INTO ticket_view (note) SELECT pg_llm_chat('llm', 'hi')"])).rejects.toMatchObject({ code: '38001' });
    expect(await sequences(direct)).toEqual(before);
  });

  it('EXPLAIN (no ANALYZE) runs no trigger of the table under the view, and says why it did not estimate', async () => {
    const { admin, direct, before } = await shop();
    const notices: NoticeMessage[] = [];
    admin.on('notice', (notice) => notices.push(notice));
    await admin.query(`EXPLAIN INSERT INTO watched_view SELECT 3, pg_llm_chat('llm', 'hi')`);
    expect(notices.map((notice) => notice.message)).toEqual([expect.stringMatching(/^pg_llm: the model calls of the statement were not estimated: .*bump\(\) \(through view watched_view\)/)]);
    expect(await sequences(direct)).toEqual(before);
  });
});
