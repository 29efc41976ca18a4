// The driver matrix with psql 15 (libpq). psql has neither the extended protocol nor binary results (\bind came in
// 16), so those scenarios use what it has: variables, SQL PREPARE, COPY in binary format. Interrupted, it cancels
// the statement and then ends its script, as it does against PostgreSQL itself.

import pg from 'pg';
import { driverMatrix, EXPECTED, PROMPT, type MatrixTarget, type Play, type Scenario, type SilentRequests } from '../../support/driver-matrix.js';
import * as sql from '../../support/driver-statements.js';
import { psql, psqlBytes, type PsqlOptions } from '../../support/psql.js';

const POSTGRES_EPOCH_MS = Date.UTC(2000, 0, 1);
const DAY_MS = 86_400_000;

/** The values of the first row of BINARY as COPY's binary format carries them. */
function decodeBinaryRow(copy: Buffer): unknown[] {
  const headerExtension = copy.readInt32BE(15);
  let at = 19 + headerExtension;
  const fieldCount = copy.readInt16BE(at);
  const fields: Buffer[] = [];
  for (at += 2; fields.length < fieldCount; ) {
    const length = copy.readInt32BE(at);
    fields.push(copy.subarray(at + 4, at + 4 + length));
    at += 4 + length;
  }
  const [i, f, b, t, d] = fields as [Buffer, Buffer, Buffer, Buffer, Buffer];
  return [i.readInt32BE(), f.readDoubleBE(), b.toString('hex'), t.toString('utf8'), new Date(POSTGRES_EPOCH_MS + d.readInt32BE() * DAY_MS).toISOString().slice(0, 10)];
}

function play(target: MatrixTarget, silentRequests: SilentRequests): Play {
  const options: PsqlOptions = { port: target.port, user: target.user, password: target.password, database: target.database };
  /** The rows psql printed, one array of columns per line. */
  const rows = async (args: string[], more: Partial<PsqlOptions> = {}): Promise<string[][]> => {
    const result = await psql(['-q', ...args], { ...options, ...more });
    if (result.status !== 0) throw new Error(`psql exited with ${result.status}: ${result.stderr}`);
    return result.stdout.split('\n').filter(Boolean).map((line) => line.split('|'));
  };
  const observer = async (): Promise<pg.Client> => {
    const client = new pg.Client({ host: target.host, port: target.port, database: target.database, user: target.user, password: target.password });
    await client.connect();
    return client;
  };
  // psql is interrupted once its statement runs: interrupted before, it would end without sending a cancel. A model
  // call runs once the provider has its request: the proxy holds the session's transaction open before it asks.
  const cancelScenario = async (text: string, calls = false) => {
    const watcher = await observer();
    const asked = silentRequests();
    try {
      const running = async () => (await watcher.query(sql.RUNNING_CANCELLED)).rows[0].n > 0 && (!calls || silentRequests() > asked);
      const result = await psql([], {
        ...options,
        params: { application_name: sql.CANCELLED_APP },
        input: `${text};\n`,
        started: (child) => void sql.eventually(running).then(() => child.kill('SIGINT')),
      });
      return { cancelled: result.stderr.includes('canceling statement due to user request') };
    } finally {
      await watcher.end();
    }
  };
  const scenarios: Record<Scenario, () => Promise<unknown>> = {
    connect: async () => ({
      user: (await rows(['-c', 'SELECT current_user']))[0]![0],
      wrongPasswordRefused: (await psql(['-c', 'SELECT 1'], { ...options, password: 'wrong' })).stderr.includes('password authentication failed'),
    }),
    simple: async () => {
      const [total, word] = (await rows(['-c', sql.SIMPLE]))[0]!;
      return { total: Number(total), word };
    },
    extended: async () => {
      const [n, t] = (await rows([], { input: `\\set n 41\n\\set t 'été'\nSELECT :n::int + 1, :'t'::text;\n` }))[0]!;
      return [Number(n), t];
    },
    prepared: async () => {
      const lines = await rows([], {
        input: `PREPARE doubled(int) AS ${sql.DOUBLED};\nEXECUTE doubled(1);\nEXECUTE doubled(2);\nEXECUTE doubled(3);\nSELECT count(*) FROM pg_prepared_statements WHERE name = 'doubled';\n`,
      });
      return { results: lines.slice(0, 3).map(([n]) => Number(n)), serverPrepared: Number(lines[3]![0]) > 0 };
    },
    binary: async () => {
      const result = await psqlBytes(['-c', `COPY (${sql.BINARY}) TO STDOUT (FORMAT binary)`], options);
      if (result.status !== 0) throw new Error(`psql exited with ${result.status}: ${result.stderr}`);
      return decodeBinaryRow(result.stdout);
    },
    copy: async () => {
      const result = await psql(['-q'], { ...options, input: `${sql.COPY_TABLE};\n${sql.COPY_IN};\n${sql.COPY_DATA}\\.\n${sql.COPIED};\n${sql.COPY_OUT};\n` });
      const [count, ...copied] = result.stdout.split('\n');
      return { copiedIn: Number(count), copiedOut: copied.join('\n') };
    },
    transaction: async () => {
      const input = sql.TRANSACTION.map(([text, fails]) => `${text};\n${fails ? '\\echo :SQLSTATE\n' : ''}`).join('') + `${sql.COMMITTED};\n`;
      const lines = await rows(['-v', 'ON_ERROR_STOP=0'], { input });
      return { errors: lines.slice(0, 3).map(([state]) => state), committed: JSON.parse(lines[3]![0]!.replace('{', '[').replace('}', ']')) };
    },
    cancelSleep: () => cancelScenario(sql.SLEEP),
    cancelLlm: () => cancelScenario(sql.SILENT_CALL, true),
    llm: async () => (await rows([], { input: `\\set prompt '${PROMPT}'\nSELECT pg_llm_chat('llm', :'prompt');\n` }))[0]![0],
    close: async () => {
      const result = await psql(['-c', 'SELECT 1'], { ...options, params: { application_name: sql.CLOSING_APP } });
      const watcher = await observer();
      const backendGone = await sql.eventually(async () => (await watcher.query(sql.BACKENDS_OF_CLOSED)).rows[0].n === 0);
      await watcher.end();
      return { closed: result.status === 0, backendGone };
    },
    tls: async () => {
      const params = { sslmode: 'verify-full', sslrootcert: target.caFile, application_name: sql.TLS_APP };
      const [user, ssl] = (await rows(['-c', sql.UPSTREAM_SSL], { port: target.tlsPort, params }))[0]!;
      return { user, upstreamSsl: ssl === 't' };
    },
  };
  return (scenario) => scenarios[scenario]();
}

driverMatrix(async (target, silentRequests) => play(target, silentRequests), {
  adapted: {
    extended: { title: 'interpolates psql variables into a statement (psql 15 has no extended protocol)', expected: EXPECTED.extended },
    prepared: { title: 'reuses a statement prepared with SQL PREPARE', expected: EXPECTED.prepared },
    binary: { title: 'reads a row in binary format through COPY (psql has no binary results)', expected: EXPECTED.binary },
    cancelSleep: { title: 'cancels a pg_sleep on SIGINT', expected: { cancelled: true } },
    cancelLlm: { title: 'cancels a model call that never answers on SIGINT', expected: { cancelled: true } },
  },
});
