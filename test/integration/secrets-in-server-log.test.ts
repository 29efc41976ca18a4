// Secrets never reach the PostgreSQL server's log, read here as the test cluster writes it, with the test
// database logging every statement and every NOTICE: a call's api_key in the general (multi-pass) path.

import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { freshDatabase } from '../support/database.js';
import { clientOf, pgAiSuite } from '../support/pg-ai.js';
import { cluster } from '../support/proxy.js';

const suite = pgAiSuite();

function serverLog(): string {
  return readFileSync(path.join(cluster().socketDir, 'server.log'), 'utf8');
}

function unique(prefix: string): string {
  return `${prefix}-${randomBytes(12).toString('hex')}`;
}

/** True when the log holds `secret`, or any 8 characters of it in a row. */
function logHolds(secret: string): boolean {
  const log = serverLog();
  for (let start = 0; start + 8 <= secret.length; start++) if (log.includes(secret.slice(start, start + 8))) return true;
  return false;
}

/**
 * A fresh database whose sessions log every statement and NOTICE (bind parameters aside: those are the client's
 * own, which PostgreSQL logs with or without the proxy), pg_llm installed, a table of questions; `setup` runs first,
 * unlogged. Clients as postgres and as trust_user through the suite's proxy.
 */
async function loggedDatabase(setup = '') {
  const { name, client: direct } = await freshDatabase();
  await direct.query(`CREATE TABLE asks (id int PRIMARY KEY, question text NOT NULL, answer text);
    INSERT INTO asks VALUES (1, 'first'), (2, 'second');
    GRANT ALL ON asks TO trust_user; ${setup}`);
  for (const setting of [`log_min_messages = notice`, `log_statement = 'all'`, `log_parameter_max_length = 0`]) {
    await direct.query(`ALTER DATABASE ${name} SET ${setting}`);
  }
  const admin = await clientOf(suite.proxy, name);
  await admin.query('CREATE EXTENSION pg_llm');
  const reader = await clientOf(suite.proxy, name, 'trust');
  suite.fake.requests.length = 0;
  return { name, admin, reader };
}

describe('the server log', () => {
  it("never gets a call's api_key in the general path: UPDATE … SET and a call inside WHERE", async () => {
    const secret = unique('sk-call');
    const { reader } = await loggedDatabase(`CREATE TABLE keys (k text); INSERT INTO keys VALUES ('${secret}'); GRANT SELECT ON keys TO trust_user`);
    suite.fake.script(...Array.from({ length: 4 }, () => ({ kind: 'answer' as const, content: 'SELECT 1' })));
    const updated = await reader.query(`UPDATE asks SET answer = generate_query(question, api_key => $1)`, [secret]);
    expect(updated.rowCount).toBe(2);
    const found = await reader.query(`SELECT id FROM asks WHERE generate_query(question || '?', (SELECT k FROM keys)) LIKE 'SELECT 1%' ORDER BY id`);
    expect(found.rows).toEqual([{ id: 1 }, { id: 2 }]);
    expect(suite.fake.requests.map((request) => request.authorization)).toEqual(Array(4).fill(`Bearer ${secret}`));
    expect(serverLog()).toContain(`UPDATE asks SET answer = generate_query(question, api_key => $1)`);
    expect(logHolds(secret)).toBe(false);
  });
});
