// CREATE EXTENSION, ALTER EXTENSION … UPDATE and DROP EXTENSION pg_llm sent through the proxy: the catalog is
// installed, upgraded or removed in the client's own session and transaction, with its privileges, and the client
// is answered as PostgreSQL answers these statements.

import { commandComplete, noticeResponse } from '../../proxy/backend-write.js';
import type { SessionIo } from '../../proxy/interceptor.js';
import { PgError } from '../../proxy/pg-error.js';
import { install, installed, uninstall, type SqlRunner } from '../catalog/migrate.js';
import { splitStatements, type StatementPlan } from './analyze.js';
import { check } from './calls.js';
import { records, type UpstreamRequests } from './upstream-requests.js';

export async function runExtension(io: SessionIo, requests: UpstreamRequests, plan: StatementPlan & { kind: 'extension' }): Promise<void> {
  const runner = sqlRunner(requests);
  const present = await installed(runner);
  const skip = (sqlstate: string, message: string): void => void io.writeToClient(noticeResponse(new PgError(sqlstate, `${message}, skipping`)));
  switch (plan.action) {
    case 'create':
      if (present && !plan.ifExists) throw new PgError('42710', 'extension "pg_llm" already exists');
      if ((await install(runner)).length === 0 && present) skip('42710', 'extension "pg_llm" already exists');
      io.writeToClient(commandComplete('CREATE EXTENSION'));
      return;
    case 'update':
      if (!present) throw new PgError('42704', 'extension "pg_llm" does not exist');
      await install(runner);
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
