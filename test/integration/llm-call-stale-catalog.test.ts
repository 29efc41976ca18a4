// llm.call runs as the catalog's owner and hands a value to to_jsonb (whose cast to json of a type that is not built
// in is its owner's code) only when its type is safe. Under REPEATABLE READ or SERIALIZABLE, SQL reading the catalogs
// sees them as of the transaction's snapshot, while the row itself, and to_jsonb, follow them as they are now: a role
// changing its own table's or type's definition from a second session, after its transaction's snapshot, must not get
// its cast run with the owner's rights (review27). Each case is one role with two sessions.

import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { migrate } from '../../src/catalog/migrate.js';
import { afterThisTest, freshDatabase } from '../support/database.js';
import { cluster, connection } from '../support/proxy.js';

/**
 * A catalog database, an unprivileged role owning the schema mal, two sessions running as it, and the role's enum
 * mal.mood whose cast to json logs the role it runs as into mal.casts.
 */
async function roleWithTwoSessions(): Promise<{ writer: pg.Client; other: pg.Client; admin: pg.Client; role: string }> {
  const { name, client: admin } = await freshDatabase();
  await migrate(admin);
  const role = `mallory_${randomBytes(4).toString('hex')}`;
  await admin.query(`CREATE ROLE ${role} NOLOGIN`);
  const other = new pg.Client(connection(cluster().port, 'postgres', name));
  await other.connect();
  afterThisTest(async () => {
    await other.end();
    await admin.query('RESET ROLE');
    await admin.query(`DROP OWNED BY ${role} CASCADE`);
    await admin.query(`DROP ROLE ${role}`);
  });
  await admin.query(`CREATE SCHEMA mal AUTHORIZATION ${role}`);
  const writer = new pg.Client(connection(cluster().port, 'postgres', name));
  await writer.connect();
  afterThisTest(() => writer.end());
  for (const session of [writer, other]) await session.query(`SET ROLE ${role}`);
  await writer.query(`CREATE TYPE mal.mood AS ENUM ('happy')`);
  await writer.query(`CREATE TABLE mal.casts (who name)`);
  await writer.query(`GRANT INSERT ON mal.casts TO PUBLIC`);
  await writer.query(`CREATE FUNCTION mal.mood_json(mal.mood) RETURNS json LANGUAGE plpgsql AS $$
                      BEGIN
                        INSERT INTO mal.casts VALUES (current_user);
                        RETURN to_json($1::text);
                      END $$`);
  await writer.query(`CREATE CAST (mal.mood AS json) WITH FUNCTION mal.mood_json(mal.mood)`);
  return { writer, other, admin, role };
}

/** The roles the cast ran as (the installer: the superuser these tests connect as). */
async function castsRanAs(admin: pg.Client): Promise<string[]> {
  return (await admin.query(`SELECT who::text FROM mal.casts`)).rows.map(({ who }) => who as string);
}

const changes: Array<[string, string, string, string]> = [
  [
    'a column of a type of its own added to the table',
    `CREATE TABLE mal.notes (id int PRIMARY KEY, body text, reply text)`,
    `ALTER TABLE mal.notes ADD COLUMN mood mal.mood`,
    `INSERT INTO mal.notes (id, body, mood) VALUES (1, 'x', 'happy')`,
  ],
  [
    "a column's type changed to one of its own",
    `CREATE TABLE mal.notes (id int PRIMARY KEY, body text, reply text)`,
    `ALTER TABLE mal.notes ALTER COLUMN body TYPE mal.mood USING body::mal.mood`,
    `INSERT INTO mal.notes (id, body) VALUES (1, 'happy')`,
  ],
  [
    "a field of its own type added to a composite the prompt reads",
    `CREATE TYPE mal.pair AS (a int); CREATE TABLE mal.notes (id int PRIMARY KEY, body mal.pair, reply text)`,
    `ALTER TYPE mal.pair ADD ATTRIBUTE mood mal.mood`,
    `INSERT INTO mal.notes (id, body) VALUES (1, ROW(1, 'happy'))`,
  ],
];

describe("llm.call's reading of the row when the transaction's snapshot is older than the table's definition", () => {
  for (const isolation of ['REPEATABLE READ', 'SERIALIZABLE', 'READ COMMITTED']) {
    for (const [change, table, alter, insert] of changes) {
      it(`runs no cast of the role's own as the installer under ${isolation}: ${change} by another session`, async () => {
        const { writer, other, admin, role } = await roleWithTwoSessions();
        await writer.query(table);
        await writer.query(`CREATE TRIGGER reply AFTER INSERT ON mal.notes FOR EACH ROW EXECUTE FUNCTION llm.call('Answer {body}', 'reply')`);
        await writer.query(`BEGIN ISOLATION LEVEL ${isolation}`);
        await writer.query(`SELECT 1`); // the transaction's snapshot, taken before the change below
        await other.query(alter);
        // Whether the insert succeeds or fails does not matter: only as whom the cast ran.
        await writer.query(insert).catch(() => undefined);
        await writer.query('COMMIT');
        expect((await castsRanAs(admin)).filter((who) => who !== role)).toEqual([]);
      });
    }
  }
});
