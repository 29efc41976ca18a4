// A script written for the pg_llm extension, run unchanged by psql through the proxy, pg_regress-style: psql echoes
// each statement and its result, and the whole output must equal the expected file line by line.

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshDatabase } from '../support/database.js';
import { startProxy, type TestProxy } from '../support/proxy.js';
import { psql } from '../support/psql.js';

const script = (name: string) => fileURLToPath(new URL(`./scripts/${name}`, import.meta.url));

let proxy: TestProxy;
beforeAll(async () => {
  proxy = await startProxy();
});
afterAll(() => proxy.stop());

describe('pg_llm scripts through psql', () => {
  it('pg_llm.sql gives pg_llm.out', async () => {
    const { name } = await freshDatabase();
    const result = await psql(['-a', '-f', script('pg_llm.sql')], { port: proxy.port, database: name });
    expect(result.stderr).toBe('');
    expect(result.stdout.split('\n')).toEqual(readFileSync(script('pg_llm.out'), 'utf8').split('\n'));
    expect(result.status).toBe(0);
  });
});
