// No ordinary role can lock the catalog against the others. LOCK TABLE in a mode stronger than ROW EXCLUSIVE takes
// UPDATE, DELETE or TRUNCATE on the table itself (on a view: on the view, whose tables are then locked with its
// owner's rights), and a lock left held in an open transaction would stall every other role's calls. Every table and
// view of the catalog's schemas, as pg_class lists them, so one added later is covered too; as a role with no grants
// and as a worker's role with the grants the docs give it, on a fresh catalog and on one upgraded from before.

import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { migrate, shippedMigrations } from '../../src/catalog/migrate.js';
import { WORKER_PRIVILEGES } from '../../src/worker/queue.js';
import { freshDatabase } from '../support/database.js';
import { directAs, roles } from '../support/roles.js';

const STRONGER_THAN_ROW_EXCLUSIVE = ['SHARE UPDATE EXCLUSIVE', 'SHARE', 'SHARE ROW EXCLUSIVE', 'EXCLUSIVE', 'ACCESS EXCLUSIVE'];
const SCHEMAS = `ARRAY['_pg_llm_catalog', 'llm', 'ai']`;

/** A catalog with pgai's views, and two roles: one with no grants, one owning a table with an llm.call trigger. */
async function catalog(upgradedFrom?: { level: number; workerGrant: string }) {
  const [plain, worker] = await roles('plain', 'worker');
  const { name, client: direct } = await freshDatabase();
  const all = shippedMigrations();
  await migrate(direct, upgradedFrom ? all.slice(0, upgradedFrom.level) : all);
  await direct.query(`CREATE TABLE notes (id int PRIMARY KEY, body text, summary text); ALTER TABLE notes OWNER TO ${worker}`);
  await direct.query(`CREATE TRIGGER enrich AFTER INSERT OR UPDATE ON notes FOR EACH ROW EXECUTE FUNCTION llm.call('Summarize {body}', 'summary')`);
  await direct.query(`GRANT ${upgradedFrom?.workerGrant ?? WORKER_PRIVILEGES} ON llm.queue TO ${worker}`);
  await migrate(direct, all, [], 'ai');
  return { name, direct, plain, worker };
}

/** Each catalog table and view, with the modes `role` may LOCK it in beyond ROW EXCLUSIVE, or the error it gets. */
async function strongLocks(database: string, role: string, relations: string[]): Promise<Record<string, string[]>> {
  const client = await directAs(database, role);
  const outcomes: Record<string, string[]> = {};
  for (const relation of relations) {
    outcomes[relation] = [];
    for (const mode of STRONGER_THAN_ROW_EXCLUSIVE) {
      await client.query('BEGIN');
      const outcome = await client.query(`LOCK TABLE ${relation} IN ${mode} MODE NOWAIT`).then(
        () => `${mode}: locked`,
        (error: { code?: string }) => `${mode}: ${error.code}`,
      );
      await client.query('ROLLBACK');
      if (!outcome.endsWith(': 42501')) outcomes[relation].push(outcome);
    }
  }
  return outcomes;
}

async function relations(direct: pg.Client): Promise<string[]> {
  const { rows } = await direct.query(
    `SELECT c.oid::regclass::text AS relation FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = ANY (${SCHEMAS}) AND c.relkind IN ('r', 'p', 'v') ORDER BY 1`,
  );
  return rows.map((row: { relation: string }) => row.relation);
}

describe('locks on the catalog', () => {
  it.each([
    ['a fresh catalog, the worker granted what the docs say', undefined],
    ['a catalog upgraded from 0017, the worker granted what the docs said then', { level: 17, workerGrant: 'SELECT, UPDATE, DELETE' }],
  ])('%s: no role but its owner locks any of its tables or views beyond ROW EXCLUSIVE', async (_, upgradedFrom) => {
    expect(shippedMigrations()[17]?.name).toBe('0018_no_table_locks');
    const { name, direct, plain, worker } = await catalog(upgradedFrom);
    const all = await relations(direct);
    expect(all).toEqual(expect.arrayContaining(['_pg_llm_catalog.pg_llm_models', '_pg_llm_catalog.pg_llm_sessions', '_pg_llm_catalog.pg_llm_queue', 'llm.queue', 'ai.vectorizer']));
    const none = Object.fromEntries(all.map((relation) => [relation, []]));
    expect(await strongLocks(name, plain, all)).toEqual(none);
    expect(await strongLocks(name, worker, all)).toEqual(none);
    // What they may take still works: the worker's role row-locks its jobs, any role writes its rows.
    const workerClient = await directAs(name, worker);
    await workerClient.query(`INSERT INTO notes VALUES (1, 'hello')`);
    expect((await workerClient.query(`SELECT id FROM llm.queue FOR UPDATE`)).rowCount).toBe(1);
    const plainClient = await directAs(name, plain);
    await plainClient.query(`BEGIN; LOCK TABLE _pg_llm_catalog.pg_llm_sessions IN ROW EXCLUSIVE MODE NOWAIT; ROLLBACK`);
  });

  it('no role may reference a catalog table in a foreign key or put a trigger on one (both lock it against writes)', async () => {
    const { direct, plain, worker } = await catalog();
    const { rows } = await direct.query(
      `SELECT c.oid::regclass::text AS relation, r.rolname AS role FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace, pg_roles r
        WHERE n.nspname = ANY (${SCHEMAS}) AND c.relkind IN ('r', 'p', 'v') AND r.rolname IN ($1, $2)
          AND has_table_privilege(r.oid, c.oid, 'UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER')`,
      [plain, worker],
    );
    expect(rows).toEqual([]);
  });
});
