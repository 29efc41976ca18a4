// CREATE EXTENSION, ALTER EXTENSION … UPDATE and DROP EXTENSION of pg_llm or ai (pgai's API) sent through the
// proxy: the catalog and the extension's stubs are installed, upgraded or removed in the client's own session and
// transaction, with its privileges, and the client is answered as PostgreSQL answers these statements.

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
  const { extension } = plan;
  const present = await installed(runner, extension);
  const notice = (error: PgError): void => void io.writeToClient(noticeResponse(error));
  const skip = (sqlstate: string, message: string): void => notice(new PgError(sqlstate, `${message}, skipping`));
  const installing = async (): Promise<Installed> => {
    const done = await install(runner, undefined, await keys(), extension);
    if (done.unusable.length > 0) io.writeToClient(noticeResponse(unusableWarning(done), 'WARNING'));
    if (done.shown.length > 0) io.writeToClient(noticeResponse(shownWarning(done), 'WARNING'));
    return done;
  };
  // An extension of this name installed in the server itself (pgai's own) is the server's to keep or drop.
  if (!present && (await inServer(runner, extension))) {
    if (plan.action === 'drop') {
      await runner.query(plan.sql);
      io.writeToClient(commandComplete('DROP EXTENSION'));
      return;
    }
    if (plan.action === 'create' && plan.ifExists) skip('42710', `extension "${extension}" already exists`);
    else throw inServerError(extension);
    io.writeToClient(commandComplete('CREATE EXTENSION'));
    return;
  }
  switch (plan.action) {
    case 'create':
      if (present && !plan.ifExists) throw new PgError('42710', `extension "${extension}" already exists`);
      if (plan.cascade) await installRequired(runner, notice);
      if ((await installing()).applied.length === 0 && present) skip('42710', `extension "${extension}" already exists`);
      io.writeToClient(commandComplete('CREATE EXTENSION'));
      return;
    case 'update':
      if (!present) throw new PgError('42704', `extension "${extension}" does not exist`);
      await installing();
      io.writeToClient(commandComplete('ALTER EXTENSION'));
      return;
    case 'drop':
      if (present) await uninstall(runner, plan.cascade, extension);
      else if (plan.ifExists) skip('42704', `extension "${extension}" does not exist`);
      else throw new PgError('42704', `extension "${extension}" does not exist`);
      io.writeToClient(commandComplete('DROP EXTENSION'));
      return;
  }
}

async function inServer(runner: SqlRunner, extension: string): Promise<boolean> {
  const { rows } = await runner.query('SELECT FROM pg_catalog.pg_extension WHERE extname OPERATOR(pg_catalog.=) $1', [extension]);
  return rows.length > 0;
}

function inServerError(extension: string): PgError {
  return new PgError('42710', `extension "${extension}" already exists`, {
    detail: `"${extension}" is installed in the server itself, not by the proxy.`,
    hint: `To have the proxy serve its functions instead, DROP EXTENSION ${extension} CASCADE first (through the proxy or not), then CREATE EXTENSION ${extension} through the proxy.`,
  });
}

/**
 * What CASCADE installs with pgai: pgvector, where the server has it, so that vectors are pgvector's (without it
 * they are real[]). pgai's other requirement, plpython3u, the proxy does without.
 */
async function installRequired(runner: SqlRunner, notice: (error: PgError) => void): Promise<void> {
  const { rows } = await runner.query<{ installable: boolean | string }>(
    `SELECT installed_version IS NULL AS installable FROM pg_catalog.pg_available_extensions WHERE name OPERATOR(pg_catalog.=) 'vector'`,
  );
  if (rows[0]?.installable !== true && rows[0]?.installable !== 't') return;
  notice(new PgError('00000', 'installing required extension "vector"'));
  await runner.query('CREATE EXTENSION vector');
}

function unusableWarning({ unusable }: Installed): PgError {
  const instances = unusable.map(({ instanceName, reason }) => `"${instanceName}" (${reason})`).join(', ');
  return new PgError('01000', `the secrets of model instances ${instances} cannot be opened by this proxy: calls refuse them`, {
    hint: 'Run ALTER EXTENSION pg_llm UPDATE again with the master key they were sealed with (PG_LLM_MASTER_KEY, PG_LLM_PREVIOUS_MASTER_KEYS), or register them again with pg_llm_add_model.',
  });
}

function shownWarning({ shown }: Installed): PgError {
  const instances = shown.map((instanceName) => `"${instanceName}"`).join(', ');
  return new PgError('01000', `the configs of model instances ${instances} show every role credentials an earlier version stored there unsealed`, {
    hint: 'Run ALTER EXTENSION pg_llm UPDATE again with the master key configured (PG_LLM_MASTER_KEY), which seals them, or register them again with pg_llm_add_model.',
  });
}

/**
 * Catalog installs run statement by statement in the client's session. After a failed statement the server skips
 * every request until a Sync: one is sent then, so that, as on a connection of its own, the next statement runs (in
 * the transaction the failure aborted, which a ROLLBACK TO SAVEPOINT can recover).
 */
function sqlRunner(requests: UpstreamRequests): SqlRunner {
  return {
    query: async <Row extends Record<string, unknown>>(sql: string, parameters: unknown[] = []) => {
      let rows: Array<Record<string, string | null>> = [];
      for (const statement of splitStatements(sql)) {
        const pending = requests.statement(statement, parameters.map((value) => (value === null || value === undefined ? null : String(value))));
        requests.flush();
        const result = await pending;
        if (result.error) await requests.sync();
        rows = records(check(result));
      }
      return { rows: rows as unknown as Row[] };
    },
  };
}
