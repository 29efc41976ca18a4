import { beforeAll, describe, expect, it } from 'vitest';
import { loadParser } from '../../src/sql/parse.js';
import { SessionMasterKeys } from '../../src/intercept/master-key-setting.js';
import { masterKey } from '../../src/crypto/secrets.js';

beforeAll(() => loadParser());

const REFERENCE = /'held by pg_llm proxy [0-9a-f]{32}'/;

describe('SessionMasterKeys', () => {
  it('replaces the value of each SET with a reference that resolves to the key, in this session only', async () => {
    const keys = new SessionMasterKeys();
    const sealed = await keys.seal(`SELECT 'é' AS e; SET LOCAL "PG_LLM.MASTER_KEY" TO E'k\\'ey one' ; SET pg_llm.master_key = key2 -- note`);
    expect(sealed).toMatch(new RegExp(`^SELECT 'é' AS e; SET LOCAL "PG_LLM.MASTER_KEY" TO ${REFERENCE.source}; SET pg_llm.master_key = ${REFERENCE.source}$`));
    const [first, second] = [...sealed.matchAll(/'(held by pg_llm proxy [0-9a-f]{32})'/g)].map((match) => match[1]!);
    expect(keys.resolve(first)).toEqual(masterKey("k'ey one"));
    expect(keys.resolve(second)).toEqual(masterKey('key2'));
    expect(keys.resolve(null)).toBeUndefined();
    expect(() => new SessionMasterKeys().resolve(first)).toThrowError(expect.objectContaining({ sqlstate: '22023' }));
  });

  it('leaves other statements as they are, and refuses the ways that hand the server the key', async () => {
    const keys = new SessionMasterKeys();
    for (const sql of ['SELECT 1', `RESET pg_llm.master_key`, `SHOW pg_llm.master_key`, `SELECT current_setting('pg_llm.master_key')`]) expect(await keys.seal(sql)).toBe(sql);
    for (const sql of [`ALTER ROLE r SET pg_llm.master_key = 'k'`, `ALTER SYSTEM SET pg_llm.master_key = 'k'`, `CREATE FUNCTION f() RETURNS int LANGUAGE sql SET pg_llm.master_key = 'k' AS 'SELECT 1'`, `SELECT set_config('pg_llm.master_key', 'k', false)`]) {
      await expect(keys.seal(sql), sql).rejects.toThrowError(expect.objectContaining({ sqlstate: '0A000' }));
    }
    await expect(keys.seal(`SET pg_llm.master_key = 'k' oops`)).rejects.toThrowError(expect.objectContaining({ sqlstate: '42601' }));
    await expect(keys.seal(`SET pg_llm.master_key = 'a', 'b'`)).rejects.toThrowError(expect.objectContaining({ sqlstate: '22023' }));
  });

  it("drops a SET's derivation still waiting for its turn when the session ends", async () => {
    const busy = new SessionMasterKeys('other').seal(`SET pg_llm.master_key = 'busy ${Math.random()}'`);
    const keys = new SessionMasterKeys('departed');
    const waiting = keys.seal(`SET pg_llm.master_key = 'waiting ${Math.random()}'`);
    // seal() reaches the queue once the statement is parsed.
    await new Promise((resolve) => setImmediate(resolve));
    keys.close();
    await expect(waiting).rejects.toThrowError(expect.objectContaining({ sqlstate: '08006' }));
    await busy;
  });
});
