// A database's owner who is not a superuser may install the catalog, and then owns every function of it: the stubs,
// call_result and require_proxy, which every LLM statement runs with its caller's rights, and the functions of
// llm.queue's rules, which the llm.call worker runs with its own. As their owner it may change them at any time. So a
// superuser's LLM statement, or a worker connected as a superuser, would run that role's code as a superuser: here
// it makes itself one. A session that is or may become a superuser uses no catalog whose owner may not.

import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rotateMasterKey } from '../../src/catalog/rotate.js';
import { masterKey } from '../../src/crypto/secrets.js';
import { capturedLog } from '../support/captured-log.js';
import { afterThisTest, freshDatabase } from '../support/database.js';
import { connection, startProxy, type TestProxy } from '../support/proxy.js';
import { directAs, roles } from '../support/roles.js';
import { startWorker } from '../support/worker.js';

let proxy: TestProxy;
beforeAll(async () => {
  proxy = await startProxy();
});
afterAll(() => proxy.stop());

/** Code of `owner`'s that makes it a superuser when a superuser runs it. */
const RAISE_ITSELF = (owner: string) =>
  `IF (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user) THEN EXECUTE 'ALTER ROLE ${owner} SUPERUSER'; END IF;`;

/**
 * A database owned by a role of its own, not a superuser, that logged in through the proxy and installed the
 * catalog; its session through the proxy, and one straight to the database.
 */
async function ownersCatalog(): Promise<{ name: string; owner: string; direct: pg.Client; ownerSession: pg.Client; ownersProxySession: pg.Client }> {
  // Made first, so that it is dropped after the database it owns.
  const [owner] = await roles('dbowner');
  const { name, client: direct } = await freshDatabase();
  await direct.query(`ALTER ROLE ${owner} LOGIN PASSWORD 'owner secret'; ALTER DATABASE ${name} OWNER TO ${owner}`);
  const ownersProxySession = new pg.Client({ ...connection(proxy.port, 'postgres', name), user: owner, password: 'owner secret' });
  await ownersProxySession.connect();
  afterThisTest(() => ownersProxySession.end());
  await ownersProxySession.query('CREATE EXTENSION pg_llm');
  return { name, owner: owner!, direct, ownerSession: await directAs(name, owner!), ownersProxySession };
}

async function isSuperuser(direct: pg.Client, role: string): Promise<boolean> {
  const { rows } = await direct.query(`SELECT rolsuper FROM pg_roles WHERE rolname = $1`, [role]);
  return rows[0].rolsuper as boolean;
}

/** A statement the proxy runs in passes, whose stub calls call_result and require_proxy in the caller's session. */
const PASSES = `SELECT count(*)::int AS n FROM (SELECT c.relname, llm_provider() AS p FROM pg_class c WHERE c.relname = 'pg_proc') s WHERE p IS NOT NULL`;

describe("a catalog whose owner is not a superuser", () => {
  it("is refused to a superuser's LLM statements, which would run its owner's code as a superuser", async () => {
    const { name, owner, direct, ownerSession } = await ownersCatalog();
    await ownerSession.query(`CREATE OR REPLACE FUNCTION _pg_llm_catalog.require_proxy(function_name text) RETURNS void
      LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$ BEGIN ${RAISE_ITSELF(owner)} END $$`);

    const superuser = new pg.Client(connection(proxy.port, 'postgres', name));
    await superuser.connect();
    afterThisTest(() => superuser.end());
    await expect(superuser.query(PASSES)).rejects.toMatchObject({ code: '42501', message: expect.stringContaining(`belongs to role "${owner}"`) });
    // Over the extended protocol too.
    await expect(superuser.query({ text: PASSES, values: [], name: 'prepared' })).rejects.toMatchObject({ code: '42501' });
    expect(await isSuperuser(direct, owner)).toBe(false);
    // Nor once it has taken a weaker role: the session may take the superuser's back (RESET ROLE).
    await superuser.query(`SET ROLE ${owner}`);
    await expect(superuser.query(PASSES)).rejects.toMatchObject({ code: '42501' });
    expect(await isSuperuser(direct, owner)).toBe(false);
  });

  it('still serves roles that are not superusers', async () => {
    const { name } = await ownersCatalog();
    const user = new pg.Client(connection(proxy.port, 'trust', name));
    await user.connect();
    afterThisTest(() => user.end());
    expect((await user.query(PASSES)).rows).toEqual([{ n: 1 }]);
  });

  it("is not served by an llm.call worker connected as a superuser, which would run llm.queue's rules as one", async () => {
    const { name, owner, direct, ownerSession } = await ownersCatalog();
    // A function of llm.queue's rules, which every claim, count and upkeep of the worker runs.
    await ownerSession.query(`CREATE OR REPLACE FUNCTION _pg_llm_catalog.is_admin() RETURNS boolean
      LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$ BEGIN ${RAISE_ITSELF(owner)} RETURN false; END $$`);
    await direct.query(`CREATE TABLE docs (id int PRIMARY KEY, body text, summary text)`);
    await direct.query(`CREATE TRIGGER enrich AFTER INSERT ON docs FOR EACH ROW EXECUTE FUNCTION llm.call('{body}', 'summary')`);
    await direct.query(`INSERT INTO docs VALUES (1, 'one', NULL)`);

    const { log, lines } = capturedLog('info');
    startWorker(name, {}, { env: {} }, 'postgres', undefined, log);
    await expect.poll(() => lines.some((line) => line.includes('serves nothing') && line.includes(`belongs to role \\"${owner}\\"`)), { timeout: 10_000 }).toBe(true);
    expect(await isSuperuser(direct, owner)).toBe(false);
    expect((await direct.query(`SELECT status FROM _pg_llm_catalog.pg_llm_queue`)).rows).toEqual([{ status: 'pending' }]);
  });

  it("is neither dropped, upgraded nor rotated by a superuser, whose writes to its tables would fire triggers its owner chose", async () => {
    const { name, owner, direct, ownerSession, ownersProxySession: registrar } = await ownersCatalog();
    await registrar.query(`SELECT pg_llm_add_model(false, 'openai', 'owners', 'sk-owners-key-0123456789', '{"model_name": "m", "base_url": "http://127.0.0.1:9/v1"}')`);
    await ownerSession.query(`CREATE FUNCTION _pg_llm_catalog.raise_itself() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN ${RAISE_ITSELF(owner)} RETURN NULL; END $$`);
    await ownerSession.query(`CREATE TRIGGER raise_itself AFTER UPDATE ON _pg_llm_catalog.pg_llm_models FOR EACH STATEMENT EXECUTE FUNCTION _pg_llm_catalog.raise_itself()`);
    await ownerSession.query(`CREATE TRIGGER raise_itself AFTER DELETE ON _pg_llm_catalog.pg_llm_extensions FOR EACH STATEMENT EXECUTE FUNCTION _pg_llm_catalog.raise_itself()`);

    await expect(rotateMasterKey(direct, [masterKey('test master key')], masterKey('the next master key'))).rejects.toMatchObject({ sqlstate: '42501' });
    const superuser = new pg.Client(connection(proxy.port, 'postgres', name));
    await superuser.connect();
    afterThisTest(() => superuser.end());
    await expect(superuser.query('ALTER EXTENSION pg_llm UPDATE')).rejects.toMatchObject({ code: '42501', message: expect.stringContaining(`belongs to role "${owner}"`) });
    await expect(superuser.query('DROP EXTENSION pg_llm')).rejects.toMatchObject({ code: '42501', message: expect.stringContaining(`belongs to role "${owner}"`) });
    expect(await isSuperuser(direct, owner)).toBe(false);
    // Its owner drops it, as the refusal's hint says.
    await registrar.query('DROP EXTENSION pg_llm');
    expect((await direct.query(`SELECT to_regnamespace('_pg_llm_catalog') AS catalog`)).rows).toEqual([{ catalog: null }]);
  });
});
