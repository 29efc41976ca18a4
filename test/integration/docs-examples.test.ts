// Every SQL example of README.md and docs/*.md runs as written, in order, through the proxy as a bare `npm start`
// serves it (no provider configured, so the examples use the offline mock), in psql, one session per file, all in
// one fresh database: README.md first, then the docs in the order the README links them. A failure names the file,
// the line and PostgreSQL's error. Blocks marked ```sql no-run are counted here, so the marking cannot grow unseen.

import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { markdownSql } from '../support/markdown-sql.js';
import { cluster, connection, startProxy, type TestProxy } from '../support/proxy.js';
import { psql } from '../support/psql.js';

const root = fileURLToPath(new URL('../../', import.meta.url));

/** Blocks shown but not run, by file: each needs a real provider. */
const NOT_RUN: Record<string, number> = {
  'README.md': 1,
  'docs/pg-ai-query.md': 1,
  'docs/pgai.md': 2,
  'docs/semantic-operators.md': 1,
};

const readme = readFileSync(join(root, 'README.md'), 'utf8');
const linked = [...new Set([...readme.matchAll(/\]\((docs\/[\w-]+\.md)(?:#[^)]*)?\)/g)].map((match) => match[1]!))];
const files = ['README.md', ...linked];
const database = `docs_examples_${process.pid}`;
/** Roles the examples create: roles belong to the whole cluster, so they go when the test ends. */
const roles = [...new Set(files.flatMap((file) => [...markdownSql(readFileSync(join(root, file), 'utf8'), file).script.matchAll(/CREATE ROLE (\w+)/gi)].map((match) => match[1]!)))];

let proxy: TestProxy;
let admin: pg.Client;
const scripts = mkdtempSync(join(tmpdir(), 'docs-examples-'));

beforeAll(async () => {
  admin = new pg.Client(connection(cluster().port));
  await admin.connect();
  await dropRoles();
  await admin.query(`CREATE DATABASE ${database}`);
  proxy = await startProxy();
});

afterAll(async () => {
  await proxy?.stop();
  await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
  await dropRoles();
  await admin.end();
  rmSync(scripts, { recursive: true, force: true });
});

async function dropRoles(): Promise<void> {
  for (const role of roles) await admin.query(`DROP ROLE IF EXISTS ${role}`);
}

describe('the SQL examples of the README and docs', () => {
  it('covers every file of docs/, each linked from the README', () => {
    const docs = readdirSync(join(root, 'docs')).filter((name) => name.endsWith('.md')).map((name) => `docs/${name}`);
    expect([...linked].sort()).toEqual(docs.sort());
  });

  it.each(files)('%s runs as written', async (file) => {
    const { script, runnable, notRun } = markdownSql(readFileSync(join(root, file), 'utf8'), file);
    expect({ file, notRun }).toEqual({ file, notRun: NOT_RUN[file] ?? 0 });
    if (runnable === 0) return;
    const path = join(scripts, file.replace('/', '_'));
    writeFileSync(path, script);
    const result = await psql(['-q', '-f', path], { port: proxy.port, database, guardMs: 120_000 });
    const failure = /^psql:[^:]*:(\d+): (ERROR: .*)$/m.exec(result.stderr);
    if (failure) expect.fail(`${file}:${failure[1]}: ${failure[2]}\n${result.stderr}`);
    // NOTICEs, with their DETAIL and HINT lines, are what a reader sees too ("extension … already exists, skipping");
    // anything else is a failure.
    let inNotice = false;
    const unexpected = result.stderr.split('\n').filter((line) => {
      inNotice = /^psql:[^:]*:\d+: NOTICE: /.test(line) || (inNotice && /^(DETAIL|HINT): /.test(line));
      return line !== '' && !inNotice;
    });
    expect(unexpected).toEqual([]);
    expect(result.status).toBe(0);
  }, 180_000);
});
