// CREATE EXTENSION, ALTER EXTENSION … UPDATE and DROP EXTENSION pg_llm sent through the proxy: the catalog is
// installed, upgraded or removed in the client's own session and transaction, with its privileges, and the client
// is answered as PostgreSQL answers these statements.

import { commandComplete, noticeResponse } from '../../proxy/backend-write.js';
import type { SessionIo } from '../../proxy/interceptor.js';
import { PgError } from '../../proxy/pg-error.js';
import { install, installed, uninstall, type Installed, type SqlRunner } from '../catalog/migrate.js';
import type { MasterKey } from '../crypto/secrets.js';
import { splitStatements, type StatementPlan } from './analyze.js';
import { check } from './calls.js';
import { records, type UpstreamRequests } from './upstream-requests.js';

/** `keys` are the session's master keys: an install binds the model secrets they open to their rows. */
export async function runExtension(
  io: SessionIo,
  requests: UpstreamRequests,
  plan: StatementPlan & { kind: 'extension' },
  keys: () => Promise<MasterKey[]>,
): Promise<void> {
  const runner = sqlRunner(requests);
  const present = await installed(runner);
  const skip = (sqlstate: string, message: string): void => void io.writeToClient(noticeResponse(new PgError(sqlstate, `${message}, skipping`)));
  const installing = async (): Promise<Installed> => {
    const done = await install(runner, undefined, await keys());
    if (done.unbound.length > 0) io.writeToClient(noticeResponse(unboundWarning(done), 'WARNING'));
    return done;
  };
  switch (plan.action) {
    case 'create':
      if (present && !plan.ifExists) throw new PgError('42710', 'extension "pg_llm" already exists');
      if ((await installing()).applied.length === 0 && present) skip('42710', 'extension "pg_llm" already exists');
      io.writeToClient(commandComplete('CREATE EXTENSION'));
      return;
    case 'update':
      if (!present) throw new PgError('42704', 'extension "pg_llm" does not exist');
      await installing();
      io.writeToClient(commandComplete('ALTER EXTENSION'));
      return;
    case 'drop':
      if (present) await uninstall(runner, plan.cascade);
      else if (plan.ifExists) skip('42704', 'extension "pg_llm" does not exist');
      else throw new PgError('42704', 'extension "pg_llm" does not exist');
      io.writeToClient(commandComplete('DROP EXTENSION'));
      return;
  }
}

function unboundWarning({ unbound }: Installed): PgError {
  const instances = unbound.map(({ instanceName, reason }) => `"${instanceName}" (${reason})`).join(', ');
  return new PgError('01000', `the secrets of model instances ${instances} are not bound to their rows: calls refuse them`, {
    hint: 'Run ALTER EXTENSION pg_llm UPDATE again with the master key they were sealed with (PG_LLM_MASTER_KEY, PG_LLM_PREVIOUS_MASTER_KEYS), or register them again with pg_llm_add_model.',
  });
}

/** Catalog installs run statement by statement in the client's session. */
function sqlRunner(requests: UpstreamRequests): SqlRunner {
  return {
    query: async <Row extends Record<string, unknown>>(sql: string, parameters: unknown[] = []) => {
      let rows: Array<Record<string, string | null>> = [];
      for (const statement of splitStatements(sql)) {
        const pending = requests.statement(statement, parameters.map((value) => (value === null || value === undefined ? null : String(value))));
        requests.flush();
        rows = records(check(await pending));
      }
      return { rows: rows as unknown as Row[] };
    },
  };
}
