// psql's \dx through the proxy lists the extensions the proxy installed (pg_llm, ai) beside the server's own, though
// nothing is installed on the server: a direct connection, and every other read of pg_extension, still see the
// server's alone.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageVersion } from '../../src/package-root.js';
import { freshDatabase } from '../support/database.js';
import { cluster, startProxy, type TestProxy } from '../support/proxy.js';
import { psql } from '../support/psql.js';

let proxy: TestProxy;
beforeAll(async () => {
  proxy = await startProxy();
});
afterAll(() => proxy.stop());

/** What psql prints for each command in turn (quietly: rows only), run in one session. */
const printed = async (port: number, database: string, commands: string[]) => {
  const result = await psql(['-q', ...commands.flatMap((command) => ['-c', command])], { port, database });
  expect(result.stderr).toBe('');
  return result.stdout.trim().split('\n');
};

describe('\\dx', () => {
  it('lists pg_llm and ai once installed through the proxy, and only there', async () => {
    const { name } = await freshDatabase();
    const plpgsql = 'plpgsql|1.0|pg_catalog|PL/pgSQL procedural language';
    const version = packageVersion();
    const ai = `ai|${version}|ai|pgai's API, served by the pg_llm proxy`;
    const pgLlm = `pg_llm|${version}|public|LLM functions served by the pg_llm proxy: the APIs of pg_llm, pg_ai_query, pg_llm_bgw and postgres-llm`;
    expect(
      await printed(proxy.port, name, [
        '\\dx',
        'CREATE EXTENSION pg_llm',
        'CREATE EXTENSION ai',
        '\\dx',
        '\\dx pg_*',
        // No other query of pg_extension is changed (pg_dump's, a tool's).
        'SELECT extname FROM pg_catalog.pg_extension ORDER BY 1',
        'DROP EXTENSION ai',
        '\\dx',
      ]),
    ).toEqual([plpgsql, ai, pgLlm, plpgsql, pgLlm, 'plpgsql', pgLlm, plpgsql]);
    // Nothing is installed in the server.
    expect(await printed(cluster().port, name, ['\\dx'])).toEqual([plpgsql]);
  }, 60_000);

  it('is answered as usual inside a failed transaction block', async () => {
    const { name } = await freshDatabase();
    await printed(proxy.port, name, ['CREATE EXTENSION pg_llm']);
    const result = await psql(['-v', 'ON_ERROR_STOP=0'], { port: proxy.port, database: name, input: 'BEGIN;\nSELECT 1/0;\n\\dx\nROLLBACK;\n\\dx\n' });
    expect(result.stderr).toContain('current transaction is aborted');
    expect(result.stdout).toMatch(/pg_llm\|/);
  });
});
