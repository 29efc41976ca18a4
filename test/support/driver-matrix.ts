// The driver matrix: each driver connects through the proxy as the SCRAM role and plays the same scenarios, each
// answering a value that must equal what PostgreSQL itself gives. One proxy, one with TLS on both legs, one fake
// provider that answers and one that never does, and a database with a model on each, serve a whole test file.
// A scenario that fails only because of a known proxy bug is marked it.fails with the issue item that fixes it.

import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ROLES } from './cluster.js';
import { startFakeProvider, type FakeProvider } from './fake-provider.js';
import { API_KEY } from './models.js';
import { createAuthRole } from './auth-role.js';
import { cluster, connection, startProxy, type TestProxy } from './proxy.js';

export const SCENARIOS = ['connect', 'simple', 'extended', 'prepared', 'binary', 'copy', 'transaction', 'cancelSleep', 'cancelLlm', 'llm', 'close', 'tls'] as const;
export type Scenario = (typeof SCENARIOS)[number];

const TITLES: Record<Scenario, string> = {
  connect: 'connects with SCRAM; a wrong password is refused',
  simple: 'runs several statements in one simple query',
  extended: 'binds parameters in an extended query',
  prepared: 'reuses a prepared statement',
  binary: 'reads results in binary format',
  copy: 'copies rows in and out',
  transaction: 'recovers in a transaction: from an error after a savepoint, then by rolling the block back',
  cancelSleep: 'cancels a pg_sleep, and the session goes on',
  cancelLlm: 'cancels a model call that never answers, and the session goes on',
  llm: 'calls a model with pg_llm_chat',
  close: 'closes, and its upstream backend ends',
  tls: 'connects with SCRAM over TLS to the proxy and from the proxy to PostgreSQL',
};

/**
 * What each scenario answers. The SQL behind them is the same in every driver (and in scripts/matrix.py and
 * DriveJdbc.java): see those for the statements.
 */
export const EXPECTED: Record<Scenario, unknown> = {
  connect: { user: ROLES.scram.user, wrongPasswordRefused: true },
  simple: { total: 6, word: 'été' },
  extended: [42, 'été'],
  prepared: { results: [2, 4, 6], serverPrepared: true },
  binary: [42, 1.5, 'deadbeef', 'été', '2024-02-29'],
  copy: { copiedIn: 3, copiedOut: '1\tone\n2\ttwo\n3\tété\n' },
  transaction: { errors: ['22012', '25P02', '22012'], committed: [1, 2] },
  cancelSleep: { cancelled: true, after: 1 },
  cancelLlm: { cancelled: true, after: 1 },
  llm: 'default answer',
  close: { closed: true, backendGone: true },
  tls: { user: ROLES.scram.user, upstreamSsl: true },
};

/** The prompt of the llm scenario, sent as a parameter where the driver has them. */
export const PROMPT = 'hello from the driver matrix';

/** Where a driver connects: the SCRAM role on the matrix's database, through the plain and the TLS proxy. */
export interface MatrixTarget {
  host: string;
  port: number;
  tlsPort: number;
  caFile: string;
  database: string;
  user: string;
  password: string;
}

/** The target as the environment of a driver script. */
export function targetEnvironment(target: MatrixTarget): NodeJS.ProcessEnv {
  return {
    MATRIX_HOST: target.host,
    MATRIX_PORT: String(target.port),
    MATRIX_TLS_PORT: String(target.tlsPort),
    MATRIX_CA_FILE: target.caFile,
    MATRIX_DATABASE: target.database,
    MATRIX_USER: target.user,
    MATRIX_PASSWORD: target.password,
  };
}

/** Plays one scenario and answers its value. */
export type Play = (scenario: Scenario) => Promise<unknown>;

export interface DriverOptions {
  /** Scenarios that fail only because of a known proxy bug, with the issue item that fixes it. */
  knownBugs?: Partial<Record<Scenario, string>>;
  /** Scenarios that mean something else for this driver, with their title and value. */
  adapted?: Partial<Record<Scenario, { title: string; expected: unknown }>>;
}

/** How many requests the provider that never answers has had: a driver that can wait for its call does. */
export type SilentRequests = () => number;

/** Registers one test per scenario; `setUp` runs once, before the first. */
export function driverMatrix(setUp: (target: MatrixTarget, silentRequests: SilentRequests) => Promise<Play>, options: DriverOptions = {}): void {
  let environment: MatrixEnvironment | undefined;
  let play: Play;
  beforeAll(async () => {
    environment = await startEnvironment();
    const { silent } = environment;
    play = await setUp(environment.target, () => silent.requests.length);
  }, 180_000);
  afterAll(() => environment?.stop());

  for (const scenario of SCENARIOS) {
    const bug = options.knownBugs?.[scenario];
    const adapted = options.adapted?.[scenario];
    const title = adapted?.title ?? TITLES[scenario];
    (bug ? it.fails : it)(bug ? `${title} [fails until ${bug}]` : title, async () => {
      expect(await play(scenario)).toEqual(adapted ? adapted.expected : EXPECTED[scenario]);
      await environment!.confirm(scenario);
    });
  }
}

interface MatrixEnvironment {
  target: MatrixTarget;
  silent: FakeProvider;
  /** Checks what the providers saw: the prompt arrived, the cancelled call was abandoned. */
  confirm(scenario: Scenario): Promise<void>;
  stop(): Promise<void>;
}

async function startEnvironment(): Promise<MatrixEnvironment> {
  const { caFile, port } = cluster();
  const proxy = await startProxy();
  // TLS on both legs with SCRAM needs the proxy's own SCRAM (an auth role): a relayed exchange cannot bind either.
  const auth = await createAuthRole();
  const tlsProxy = await startProxy({ tls: true, upstream: { sslMode: 'verify-full', sslRootCert: readFileSync(caFile, 'utf8') }, authRole: auth.authRole });
  const answering = await startFakeProvider();
  const silent = await startFakeProvider();
  silent.script(...Array.from({ length: 10 }, () => ({ kind: 'stall' as const })));
  const database = `matrix_${randomBytes(5).toString('hex')}`;
  const admin = new pg.Client(connection(port));
  await admin.connect();
  await admin.query(`CREATE DATABASE ${database}`);
  await installModels(proxy, database, answering, silent);
  return {
    target: { host: '127.0.0.1', port: proxy.port, tlsPort: tlsProxy.port, caFile, database, user: ROLES.scram.user, password: ROLES.scram.password },
    silent,
    confirm: (scenario) => confirm(scenario, answering, silent),
    async stop() {
      await stopAll([proxy, tlsProxy], [answering, silent]);
      await auth.drop();
      await admin.query(`DROP DATABASE ${database} WITH (FORCE)`);
      await admin.end();
    },
  };
}

/** pg_llm in the database, with 'llm' on the answering provider and 'silent' on the one that never answers. */
async function installModels(proxy: TestProxy, database: string, answering: FakeProvider, silent: FakeProvider): Promise<void> {
  const owner = new pg.Client(connection(proxy.port, 'postgres', database));
  await owner.connect();
  await owner.query('CREATE EXTENSION pg_llm');
  const add = `SELECT pg_llm_add_model(false, 'openai', $1, $2, $3)`;
  await owner.query(add, ['llm', API_KEY, JSON.stringify({ model_name: 'gpt-test', base_url: answering.baseUrl, max_retries: 0 })]);
  // Long enough that only a cancel ends the call within a test, short enough that a lost cancel is no hang.
  await owner.query(add, ['silent', API_KEY, JSON.stringify({ model_name: 'gpt-test', base_url: silent.baseUrl, max_retries: 0, timeout_ms: 20_000 })]);
  await owner.end();
}

async function confirm(scenario: Scenario, answering: FakeProvider, silent: FakeProvider): Promise<void> {
  if (scenario === 'llm') expect(answering.requests.map((request) => JSON.stringify(request.body.messages))).toContainEqual(expect.stringContaining(PROMPT));
  if (scenario === 'cancelLlm') await expect.poll(() => silent.requests.length > 0 && silent.requests.every((request) => request.aborted), { timeout: 5_000 }).toBe(true);
}

async function stopAll(proxies: TestProxy[], providers: FakeProvider[]): Promise<void> {
  for (const proxy of proxies) await proxy.stop();
  for (const provider of providers) await provider.close();
}
