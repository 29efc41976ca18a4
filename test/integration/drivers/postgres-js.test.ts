// The driver matrix with postgres.js (postgres). It asks for every result in text, so "binary" reads bytea and typed
// values as text.

import { readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import postgres from 'postgres';
import { driverMatrix, EXPECTED, PROMPT, type MatrixTarget, type Play, type Scenario } from '../../support/driver-matrix.js';
import * as sql from '../../support/driver-statements.js';

type Options = postgres.Options<Record<string, postgres.PostgresType>>;

/** One connection of its own for `work`, ended afterwards. */
async function session<T>(options: Options, work: (db: postgres.Sql) => Promise<T>): Promise<T> {
  const db = postgres({ max: 1, onnotice: () => {}, ...options });
  try {
    return await work(db);
  } finally {
    await db.end({ timeout: 5 });
  }
}

function play(target: MatrixTarget): Play {
  const { host, port, database, user, password } = target;
  const options: Options = { host, port, database, user, pass: password };
  const cancelScenario = (text: string) =>
    session(options, async (db) => {
      const query = db.unsafe(text);
      const timer = setTimeout(() => void query.cancel(), sql.CANCEL_AFTER_MS);
      const code = (await sql.failure(query))?.code;
      clearTimeout(timer);
      return { cancelled: code === '57014', after: (await db`SELECT 1 AS n`)[0]!.n };
    });
  const scenarios: Record<Scenario, () => Promise<unknown>> = {
    connect: async () => ({
      user: await session(options, async (db) => (await db`SELECT current_user AS user`)[0]!.user),
      wrongPasswordRefused: ((await sql.failure(session({ ...options, pass: 'wrong' }, (db) => db`SELECT 1`)))?.message ?? '').includes('password authentication failed'),
    }),
    simple: () =>
      session(options, async (db) => {
        const results = (await db.unsafe(sql.SIMPLE).simple()) as unknown as postgres.RowList<postgres.Row[]>[];
        return { ...results.at(-1)![0] };
      }),
    extended: () => session(options, async (db) => Object.values((await db.unsafe(sql.EXTENDED, [...sql.EXTENDED_VALUES]))[0]!)),
    prepared: () =>
      session({ ...options, prepare: true }, async (db) => {
        const results = [];
        for (const n of [1, 2, 3]) results.push((await db.unsafe(sql.DOUBLED, [n]))[0]!.n);
        return { results, serverPrepared: (await db.unsafe(sql.SERVER_PREPARED))[0]!.n > 0 };
      }),
    binary: () =>
      session(options, async (db) => {
        const { i, f, b, t, d } = (await db.unsafe(sql.BINARY))[0]!;
        return [i, f, (b as Buffer).toString('hex'), t, (d as Date).toISOString().slice(0, 10)];
      }),
    copy: () =>
      session(options, async (db) => {
        await db.unsafe(sql.COPY_TABLE);
        await pipeline(Readable.from([sql.COPY_DATA]), await db.unsafe(sql.COPY_IN).writable());
        const copiedIn = (await db.unsafe(sql.COPIED))[0]!.n;
        let copiedOut = '';
        for await (const chunk of await db.unsafe(sql.COPY_OUT).readable()) copiedOut += String(chunk);
        return { copiedIn, copiedOut };
      }),
    transaction: () =>
      session(options, async (db) => {
        const errors = [];
        for (const [text, fails] of sql.TRANSACTION) {
          if (fails) errors.push((await sql.failure(db.unsafe(text)))?.code ?? null);
          else await db.unsafe(text);
        }
        return { errors, committed: (await db.unsafe(sql.COMMITTED))[0]!.ids };
      }),
    cancelSleep: () => cancelScenario(sql.SLEEP),
    cancelLlm: () => cancelScenario(sql.SILENT_CALL),
    llm: () => session(options, async (db) => (await db.unsafe(sql.LLM_CALL, [PROMPT]))[0]!.answer),
    close: async () => {
      const db = postgres({ ...options, max: 1, connection: { application_name: sql.CLOSING_APP } });
      await db`SELECT 1`;
      await db.end({ timeout: 5 });
      const backendGone = await session(options, (observer) => sql.eventually(async () => (await observer.unsafe(sql.BACKENDS_OF_CLOSED))[0]!.n === 0));
      return { closed: true, backendGone };
    },
    tls: () =>
      session({ ...options, port: target.tlsPort, ssl: { ca: readFileSync(target.caFile, 'utf8') }, connection: { application_name: sql.TLS_APP } }, async (db) => {
        const { user, ssl } = (await db.unsafe(sql.UPSTREAM_SSL))[0]!;
        return { user, upstreamSsl: ssl };
      }),
  };
  return (scenario) => scenarios[scenario]();
}

driverMatrix(async (target) => play(target), {
  adapted: {
    binary: { title: 'reads bytea and typed values (as text: postgres.js asks for no binary results)', expected: EXPECTED.binary },
  },
});
