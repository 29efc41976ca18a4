// The driver matrix with node-postgres (pg).

import { readFileSync } from 'node:fs';
import { isDeepStrictEqual } from 'node:util';
import pg from 'pg';
import { driverMatrix, PROMPT, type MatrixTarget, type Play, type Scenario } from '../../support/driver-matrix.js';
import * as sql from '../../support/driver-statements.js';
import { copy } from '../../support/pg-copy.js';
import { cluster } from '../../support/proxy.js';

type Settings = pg.ClientConfig;
/** What pg has and its type declarations leave out. */
type Canceller = pg.Client & { cancel(client: pg.Client, query: pg.Query): void };
type BinaryQuery = pg.QueryConfig & { binary: true; queryMode: 'extended' };

function settings(target: MatrixTarget, overrides: Settings = {}): Settings {
  const { host, port, database, user, password } = target;
  return { host, port, database, user, password, ...overrides };
}

/** A client of its own for `work`, ended afterwards. */
async function session<T>(config: Settings, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client(config);
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** Runs `text` on the client and cancels it with pg's own CancelRequest; answers the SQLSTATE it ended with. */
async function cancelled(client: pg.Client, config: Settings, text: string): Promise<string | undefined> {
  const query = new pg.Query(text);
  const outcome = new Promise<string | undefined>((resolve) => {
    query.on('error', (error: Error & { code?: string }) => resolve(error.code));
    query.on('end', () => resolve(undefined));
  });
  client.query(query);
  const timer = setTimeout(() => (new pg.Client(config) as Canceller).cancel(client, query), sql.CANCEL_AFTER_MS);
  try {
    return await outcome;
  } finally {
    clearTimeout(timer);
  }
}

// pg reads each binary value through a UTF-8 string, which loses bytes that are not UTF-8 (float8, bytea, date
// here): the answer must be what it reads from PostgreSQL directly.
const binaryQuery = { text: sql.BINARY, binary: true, queryMode: 'extended' } as BinaryQuery;

function play(target: MatrixTarget): Play {
  const config = settings(target);
  const cancelScenario = (text: string) =>
    session(config, async (client) => {
      const code = await cancelled(client, config, text);
      return { cancelled: code === '57014', after: (await client.query('SELECT 1 AS n')).rows[0].n };
    });
  const scenarios: Record<Scenario, () => Promise<unknown>> = {
    connect: async () => ({
      user: await session(config, async (client) => (await client.query('SELECT current_user AS user')).rows[0].user),
      wrongPasswordRefused: ((await sql.failure(session({ ...config, password: 'wrong' }, async () => {})))?.message ?? '').includes('password authentication failed'),
    }),
    simple: () =>
      session(config, async (client) => {
        const results = (await client.query(sql.SIMPLE)) as unknown as pg.QueryResult[];
        return results.at(-1)!.rows[0];
      }),
    extended: () => session(config, async (client) => Object.values((await client.query(sql.EXTENDED, [...sql.EXTENDED_VALUES])).rows[0])),
    prepared: () =>
      session(config, async (client) => {
        const results = [];
        for (const n of [1, 2, 3]) results.push((await client.query({ name: 'doubled', text: sql.DOUBLED, values: [n] })).rows[0].n);
        return { results, serverPrepared: (await client.query(sql.SERVER_PREPARED)).rows[0].n > 0 };
      }),
    binary: async () => {
      const [proxied, direct] = await Promise.all([config, { ...config, port: cluster().port }].map((each) => session(each, (client) => client.query(binaryQuery))));
      const { i, t } = proxied!.rows[0];
      return { formats: [...new Set(proxied!.fields.map((field) => field.format))], i, t, sameAsDirect: isDeepStrictEqual(proxied!.rows, direct!.rows) };
    },
    copy: () =>
      session(config, async (client) => {
        await client.query(sql.COPY_TABLE);
        await copy(client, sql.COPY_IN, sql.COPY_DATA);
        const copiedIn = (await client.query(sql.COPIED)).rows[0].n;
        return { copiedIn, copiedOut: await copy(client, sql.COPY_OUT) };
      }),
    transaction: () =>
      session(config, async (client) => {
        const errors = [];
        for (const [text, fails] of sql.TRANSACTION) {
          if (fails) errors.push((await sql.failure(client.query(text)))?.code ?? null);
          else await client.query(text);
        }
        return { errors, committed: (await client.query(sql.COMMITTED)).rows[0].ids };
      }),
    cancelSleep: () => cancelScenario(sql.SLEEP),
    cancelLlm: () => cancelScenario(sql.SILENT_CALL),
    llm: () => session(config, async (client) => (await client.query(sql.LLM_CALL, [PROMPT])).rows[0].answer),
    close: async () => {
      const client = new pg.Client({ ...config, application_name: sql.CLOSING_APP });
      await client.connect();
      await client.query('SELECT 1');
      await client.end();
      const backendGone = await session(config, (observer) => sql.eventually(async () => (await observer.query(sql.BACKENDS_OF_CLOSED)).rows[0].n === 0));
      return { closed: true, backendGone };
    },
    tls: () =>
      session({ ...settings(target, { port: target.tlsPort }), application_name: sql.TLS_APP, ssl: { ca: readFileSync(target.caFile, 'utf8') } }, async (client) => {
        const { user, ssl } = (await client.query(sql.UPSTREAM_SSL)).rows[0];
        return { user, upstreamSsl: ssl };
      }),
  };
  return (scenario) => scenarios[scenario]();
}

driverMatrix(async (target) => play(target), {
  adapted: {
    binary: { title: 'reads results in binary format, each value as pg reads it from PostgreSQL directly', expected: { formats: ['binary'], i: 42, t: 'été', sameAsDirect: true } },
  },
});
