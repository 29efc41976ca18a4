// Cutting text into chunks and the local embedding run on the event loop every session of the proxy shares, so one
// role's single statement could hold up all the others (review 10: from 5 s to 70 s). Two roles on one database:
// trust_user runs the statement, and password_user's SELECT 1s are measured meanwhile.

import { createHash } from 'node:crypto';
import type pg from 'pg';
import { describe, expect, it } from 'vitest';
import { clientOf } from '../support/pg-ai.js';
import { aiDatabase, pgaiSuite } from '../support/pgai.js';
import { stallProbes, type Stalls } from '../support/stall-probes.js';

const suite = pgaiSuite();

async function twoRoles(): Promise<{ heavy: pg.Client; other: pg.Client }> {
  const { name, client: admin } = await aiDatabase(suite);
  await admin.query('CREATE EXTENSION pg_llm');
  return { heavy: await clientOf(suite.proxy, name, 'trust'), other: await clientOf(suite.proxy, name, 'password') };
}

const probes = (other: pg.Client) => stallProbes(async () => void (await other.query('SELECT 1')), 50);

/** The other role's probes while the statement runs, against its probes before, and what the statement came to. */
async function probesDuring(heavy: pg.Client, other: pg.Client, statement: string, values: unknown[] = []): Promise<{ quiet: Stalls; during: Stalls; outcome: unknown }> {
  const quiet = await probes(other);
  const running = heavy.query(statement, values).then((result) => result.rows, (error: unknown) => error);
  const during = await probes(other);
  return { quiet, during, outcome: await running };
}

/** Held up at most a little longer than when nothing runs (more on a loaded machine); before, seconds to minutes. */
const unheld = ({ quiet, during }: { quiet: Stalls; during: Stalls }): void => expect(during.delayMs).toBeLessThan(4 * quiet.delayMs + 500);

describe('one role cutting or embedding text locally', () => {
  // Before: 5-6 s, each of the 10,000 chunks walked character by character before the count was checked.
  it('refuses up front a document that must come out in too many chunks (chunk_overlap = chunk_size - 1)', async () => {
    const { heavy, other } = await twoRoles();
    const result = await probesDuring(heavy, other, `SELECT pg_llm_add_knowledge('s', repeat('a', 30000), '{}', '{"chunk_size": 10000, "chunk_overlap": 9999}')`);
    expect(result.outcome).toMatchObject({ code: '54000', message: 'the document has more than 10000 chunks of 10000 characters' });
    unheld(result);
  }, 60_000);

  // Before: a chunk_size of 2,000,000 made one 1.2 MB chunk, 23 s to embed locally; at most 10,000 characters
  // each, 32 chunks a turn took seconds, and a mock model's whole batch in one turn more. Every word differs, so
  // that each is hashed.
  it('refuses a chunk_size over 10,000 characters, and embeds a 1.2 MB document locally or with a mock model a text a turn', async () => {
    const { heavy, other } = await twoRoles();
    await expect(heavy.query(`SELECT pg_llm_add_knowledge('s', 'text', '{}', '{"chunk_size": 2000000}')`)).rejects.toMatchObject({
      code: '22023',
      message: 'invalid knowledge options: chunk_size must be a whole number of characters from 1 to 10000',
      hint: expect.stringContaining('several chunks'),
    });
    const document = Array.from({ length: 36_000 }, (_, i) => createHash('md5').update(String(i)).digest('hex')).join(' ');
    const local = await probesDuring(heavy, other, `SELECT pg_llm_add_knowledge('s', $1, '{}', '{"chunk_size": 10000, "chunk_overlap": 0}') > 0 AS added`, [document]);
    expect(local.outcome).toEqual([{ added: true }]);
    unheld(local);
    await heavy.query(`SELECT pg_llm_add_model(false, 'mock', 'mine', NULL, '{}')`);
    const mock = await probesDuring(heavy, other, `SELECT pg_llm_add_knowledge('s', $1, '{}', '{"chunk_size": 10000, "chunk_overlap": 0, "embedding_instance": "mine"}') > 0 AS added`, [document]);
    expect(mock.outcome).toEqual([{ added: true }]);
    unheld(mock);
  }, 120_000);

  // Before: 70 s and 600 MB, each of 40,000 chunks repeating the one before but for a word.
  it('refuses ai.chunk_text whose chunks would be more than 10 times the text (chunk_overlap = chunk_size)', async () => {
    const { heavy, other } = await twoRoles();
    const result = await probesDuring(heavy, other, `SELECT count(*) FROM ai.chunk_text(repeat('a ', 40000), separator => ' ', chunk_size => 20000, chunk_overlap => 20000)`);
    expect(result.outcome).toMatchObject({ code: '54000', message: expect.stringContaining('would have more than 800000 characters together'), hint: expect.stringContaining('chunk_overlap') });
    unheld(result);
  }, 120_000);
});
