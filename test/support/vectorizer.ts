// A database with pgai's API installed through the proxy, where alice (trust_user) owns the empty table alice.docs
// (id int PRIMARY KEY, title text, body text), for the tests of ai.create_vectorizer and its worker.

import type pg from 'pg';
import { freshDatabase } from './database.js';
import { clientOf } from './pg-ai.js';
import type { TestProxy } from './proxy.js';

export async function alicesTable(proxy: TestProxy): Promise<{ name: string; direct: pg.Client; alice: pg.Client }> {
  const { name, client: direct } = await freshDatabase();
  const admin = await clientOf(proxy, name);
  await admin.query('CREATE EXTENSION ai');
  await direct.query(`CREATE SCHEMA alice AUTHORIZATION trust_user`);
  const alice = await clientOf(proxy, name, 'trust');
  await alice.query(`CREATE TABLE alice.docs (id int PRIMARY KEY, title text, body text)`);
  return { name, direct, alice };
}
