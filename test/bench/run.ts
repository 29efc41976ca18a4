// Benchmark of the proxy against PostgreSQL itself: pgbench read-only throughput, direct and through the proxy,
// for each query protocol; the LLM functions and the llm.call worker with the mock provider (llm.ts, worker.ts);
// then the proxy's resident memory with 1,000 idle clients. It reports whether the
// targets are met but never fails on a miss: the exit code is non-zero only when something breaks.
//
// When pgbouncer is installed, it is measured alongside as a reference: what a mature C proxy achieves on the same
// machine puts the proxy's ratio in context (on a small machine, even pgbouncer misses the ratio target). It is
// optional: without it, or if it will not start, the benchmark runs exactly as it does without the column.
//
// Environment: BENCH_SECONDS (length of each pgbench run, default 10), BENCH_ROUNDS (runs per target and mode,
// default 2).

import { spawn, spawnSync } from 'node:child_process';
import { accessSync, chownSync, constants, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { CALL_CONCURRENCY, FIRST_ROW_TARGET_MS, measureLlm, ROW_CALL_MS, TABLE_ROWS, TABLE_TARGET_FACTOR, tableReference, type LlmResult } from './llm.js';
import pg from 'pg';
import { DRAIN_TARGET_FACTOR, JOB_CALL_MS, measureWorker, prepareWorkerDatabase, WORKER_CONCURRENCY, WORKER_DATABASE, WORKER_JOBS, workerReference, type WorkerResult } from './worker.js';
import { freePort, serverBinDir, startCluster, type Cluster } from '../support/cluster.js';
import { launch, postgresClient, type ServerProcess } from '../support/server-process.js';

const TARGET_TPS_RATIO = 0.8;
const TARGET_IDLE_RSS_BYTES = 200 * 1024 * 1024;
const IDLE_CLIENTS = 1000;
// Enough concurrency to open 1,000 connections quickly without a fork storm on the server.
const CONNECT_BATCH_SIZE = 50;
const IDLE_SETTLE_MS = 2000;
// A short unmeasured run per target first, so neither side pays for cold caches or the proxy's JIT warm-up.
const WARMUP_SECONDS = 2;
const PGBENCH_SCALE = 10;
const PGBENCH_CLIENTS = 8;
const PGBENCH_THREADS = 2;
const MODES = ['simple', 'extended', 'prepared'] as const;
// Not on a non-root user's PATH on Debian, where the package installs it.
const PGBOUNCER_SYSTEM_PATH = '/usr/sbin/pgbouncer';
// In session mode each client holds one server connection: a pool as large as the client limit means no pgbench
// client ever waits for one, so pgbouncer is measured at its best, as the proxy (one upstream per client) is.
const PGBOUNCER_POOL_SIZE = 100;
const PGBOUNCER_MAX_CLIENT_CONN = 100;

type QueryMode = (typeof MODES)[number];
type TargetName = 'direct' | 'proxy' | 'pgbouncer';

interface Settings {
  seconds: number;
  rounds: number;
}

interface Endpoint {
  name: TargetName;
  port: number;
}

interface ModeResult {
  mode: QueryMode;
  /** TPS of each round per target; empty for pgbouncer when it is not measured. */
  tps: Record<TargetName, number[]>;
}

interface MemoryResult {
  atStartBytes: number;
  beforeBytes: number;
  afterBytes: number;
  clients: number;
}

interface Reference {
  server: ServerProcess;
  /** As pgbouncer --version prints it, e.g. "PgBouncer 1.18.0". */
  version: string;
}

const PROJECT_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const PROXY_MAIN = path.join(PROJECT_ROOT, 'dist', 'src', 'main.js');

async function main(): Promise<void> {
  const settings = readSettings();
  const cleanups: Array<() => void> = [];
  const cleanUp = (): void => {
    for (const cleanup of cleanups.splice(0).reverse()) cleanup();
  };
  // Without this, Ctrl-C would leave a PostgreSQL server with 1,100 connection slots running in /tmp.
  process.once('SIGINT', () => {
    cleanUp();
    process.exit(130);
  });

  let proxy: ServerProcess | undefined;
  let reference: Reference | undefined;
  try {
    print(`starting PostgreSQL (max_connections 1100)…`);
    const cluster = await startCluster({ maxConnections: 1100 });
    cleanups.push(() => cluster.stop());
    await prepareWorkerDatabase(cluster.port);

    proxy = await startProxy(cluster);
    cleanups.push(() => proxy?.killNow());
    const rssAtStart = readRssBytes(proxy.pid);

    reference = await startReferencePgbouncer(cluster);
    cleanups.push(() => reference?.server.killNow());

    print(`initialising pgbench data (scale ${PGBENCH_SCALE})…`);
    await runPgbench(['-i', '-s', String(PGBENCH_SCALE), ...connectionArgs(cluster.port)]);

    const targets: Endpoint[] = [
      { name: 'direct', port: cluster.port },
      { name: 'proxy', port: proxy.port },
      ...(reference ? [{ name: 'pgbouncer' as const, port: reference.server.port }] : []),
    ];
    await warmUp(targets);
    const throughput: ModeResult[] = [];
    for (const mode of MODES) throughput.push(await benchmarkMode(mode, targets, settings));

    print('measuring the LLM functions with the mock provider…');
    const llm = await measureLlm(proxy.port);
    print(`draining ${WORKER_JOBS} llm.call jobs with the proxy's worker…`);
    const worker = await measureWorker(proxy.port);
    const memory = await measureIdleMemory(proxy, rssAtStart);

    printSettings(settings, reference);
    printThroughput(throughput, reference !== undefined);
    printLlm(llm);
    printWorker(worker);
    printMemory(memory);
    printProxyOutput(proxy.output());
  } finally {
    await reference?.server.stop();
    await proxy?.stop();
    cleanUp();
  }
}

function readSettings(): Settings {
  return {
    seconds: positiveIntegerFromEnv('BENCH_SECONDS', 10),
    rounds: positiveIntegerFromEnv('BENCH_ROUNDS', 2),
  };
}

function positiveIntegerFromEnv(name: string, fallback: number): number {
  const text = process.env[name];
  if (text === undefined || text === '') return fallback;
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < 1) throw new Error(`${name} must be a positive whole number, got ${text}`);
  return value;
}

// ---- the proxy and pgbouncer processes ----

async function startProxy(cluster: Cluster): Promise<ServerProcess> {
  const port = await freePort();
  const args = [
    PROXY_MAIN,
    '--listen', `127.0.0.1:${port}`,
    '--upstream', `postgres://127.0.0.1:${cluster.port}/?sslmode=disable`,
    '--admin', 'off',
    '--embedded', 'never',
    '--log-level', 'warn',
    '--call-concurrency', String(CALL_CONCURRENCY),
    '--worker', `postgres://postgres@127.0.0.1:${cluster.port}/${WORKER_DATABASE}`,
    '--worker-concurrency', String(WORKER_CONCURRENCY),
  ];
  print(`starting the proxy on 127.0.0.1:${port}…`);
  return launch({ label: 'the proxy', command: process.execPath, args, port });
}

/**
 * pgbouncer in session mode in front of the same cluster, or undefined when it is not installed or will not start:
 * it is a reference, so its absence or failure costs the report a column, never the run.
 */
async function startReferencePgbouncer(cluster: Cluster): Promise<Reference | undefined> {
  const binary = findPgbouncer();
  if (!binary) {
    print(`pgbouncer not found (PATH, ${PGBOUNCER_SYSTEM_PATH}): skipping the reference column; install the Debian package pgbouncer to get it`);
    return undefined;
  }
  const version = pgbouncerVersion(binary);
  const port = await freePort();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'pg-llm-bench-pgbouncer-'));
  const removeDir = (): void => rmSync(dir, { recursive: true, force: true });
  try {
    const owner = pgbouncerOwner();
    const configFile = writePgbouncerFiles(dir, cluster, port, owner);
    print(`starting ${version} on 127.0.0.1:${port} (session mode, reference only)…`);
    const server = await launch({ label: 'pgbouncer', command: binary, args: [configFile], port, options: { ...owner, cwd: dir } });
    return {
      version,
      server: {
        ...server,
        stop: async () => {
          await server.stop();
          removeDir();
        },
        killNow: () => {
          server.killNow();
          removeDir();
        },
      },
    };
  } catch (error) {
    removeDir();
    print(`pgbouncer did not start, skipping the reference column: ${(error instanceof Error ? error.message : String(error)).trimEnd()}`);
    return undefined;
  }
}

function findPgbouncer(): string | undefined {
  const onPath = (process.env.PATH ?? '').split(path.delimiter).filter((dir) => dir !== '').map((dir) => path.join(dir, 'pgbouncer'));
  return [...onPath, PGBOUNCER_SYSTEM_PATH].find(isExecutableFile);
}

function isExecutableFile(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return statSync(file).isFile();
  } catch {
    return false;
  }
}

function pgbouncerVersion(binary: string): string {
  const firstLine = spawnSync(binary, ['--version'], { encoding: 'utf8' }).stdout?.split('\n')[0]?.trim();
  return firstLine || 'pgbouncer';
}

/** pgbouncer refuses to run as root, so under root it runs as `postgres`, like the cluster's server. */
function pgbouncerOwner(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const uid = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' });
  const gid = spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' });
  if (uid.status !== 0 || gid.status !== 0) throw new Error('running as root, but there is no postgres user to run pgbouncer as');
  return { uid: Number(uid.stdout), gid: Number(gid.stdout) };
}

/** Writes pgbouncer.ini and its auth file into dir, owned by the user pgbouncer runs as; returns the ini's path. */
function writePgbouncerFiles(dir: string, cluster: Cluster, port: number, owner: { uid: number; gid: number } | undefined): string {
  const configFile = path.join(dir, 'pgbouncer.ini');
  const authFile = path.join(dir, 'userlist.txt');
  const config = [
    '[databases]',
    `postgres = host=127.0.0.1 port=${cluster.port} dbname=postgres`,
    '',
    '[pgbouncer]',
    'listen_addr = 127.0.0.1',
    `listen_port = ${port}`,
    // No Unix socket: every target is measured over TCP, and a socket in /tmp could clash with another instance.
    'unix_socket_dir =',
    'pool_mode = session',
    // trust still requires the user to be listed in auth_file; the cluster trusts postgres on 127.0.0.1 in turn.
    'auth_type = trust',
    `auth_file = ${authFile}`,
    `max_client_conn = ${PGBOUNCER_MAX_CLIENT_CONN}`,
    `default_pool_size = ${PGBOUNCER_POOL_SIZE}`,
    // Plain TCP upstream whatever the version's default, as the proxy is started with sslmode=disable.
    'server_tls_sslmode = disable',
    // Quiet like the proxy at --log-level warn: no line per connection.
    'log_connections = 0',
    'log_disconnections = 0',
    `logfile = ${path.join(dir, 'pgbouncer.log')}`,
    '',
  ].join('\n');
  writeFileSync(configFile, config);
  writeFileSync(authFile, '"postgres" ""\n');
  if (owner) {
    // The log file is created by pgbouncer itself, so the directory must be writable by it, not only readable.
    for (const file of [dir, configFile, authFile]) chownSync(file, owner.uid, owner.gid);
  }
  return configFile;
}

// ---- pgbench ----

function pgbenchPath(): string {
  // The server's own pgbench matches its version; the one on PATH is the fallback.
  const besideServer = path.join(serverBinDir(), 'pgbench');
  return existsSync(besideServer) ? besideServer : 'pgbench';
}

/** TCP on 127.0.0.1 for every target, so the direct figures are not flattered by a Unix socket. */
function connectionArgs(port: number): string[] {
  return ['-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', 'postgres'];
}

function runPgbench(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(pgbenchPath(), args, {
      env: { ...process.env, PGSSLMODE: 'disable' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => void (stdout += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => void (stderr += chunk.toString('utf8')));
    child.once('error', reject);
    child.once('close', (code, signal) => {
      if (code === 0) resolve(stdout);
      else reject(new Error(`pgbench ${args.join(' ')} failed (${code ?? signal}):\n${stderr}${stdout}`));
    });
  });
}

function selectOnlyArgs(mode: QueryMode, seconds: number, endpoint: Endpoint): string[] {
  return [
    '-S', '-n',
    '-M', mode,
    '-c', String(PGBENCH_CLIENTS),
    '-j', String(PGBENCH_THREADS),
    '-T', String(seconds),
    ...connectionArgs(endpoint.port),
  ];
}

/** The tps line; its wording changed in PostgreSQL 14. */
function parseTps(output: string): number {
  const match = /^tps = ([\d.]+) \((?:without initial connection time|excluding connections establishing)\)/m.exec(output);
  if (!match) throw new Error(`no tps line in pgbench's output:\n${output}`);
  return Number(match[1]);
}

async function warmUp(endpoints: Endpoint[]): Promise<void> {
  for (const endpoint of endpoints) {
    print(`warming up ${endpoint.name} (${WARMUP_SECONDS} s)…`);
    await runPgbench(selectOnlyArgs('simple', WARMUP_SECONDS, endpoint));
  }
}

async function benchmarkMode(mode: QueryMode, targets: Endpoint[], settings: Settings): Promise<ModeResult> {
  const result: ModeResult = { mode, tps: { direct: [], proxy: [], pgbouncer: [] } };
  const nameWidth = Math.max(...targets.map((target) => target.name.length));
  for (let round = 0; round < settings.rounds; round++) {
    for (const endpoint of rotate(targets, round)) {
      const tps = parseTps(await runPgbench(selectOnlyArgs(mode, settings.seconds, endpoint)));
      result.tps[endpoint.name].push(tps);
      print(`  ${mode.padEnd(8)} round ${round + 1}/${settings.rounds}  ${endpoint.name.padEnd(nameWidth)} ${formatTps(tps)} tps`);
    }
  }
  return result;
}

/**
 * The targets starting from a different one each round, so drift (caches, autovacuum, thermal) does not favour
 * whichever always runs first; with two targets this simply alternates them.
 */
function rotate<T>(items: T[], round: number): T[] {
  const start = round % items.length;
  return [...items.slice(start), ...items.slice(0, start)];
}

// ---- idle-connection memory ----

function readRssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(status);
  if (!match) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(match[1]) * 1024;
}

async function measureIdleMemory(proxy: ServerProcess, atStartBytes: number): Promise<MemoryResult> {
  const beforeBytes = readRssBytes(proxy.pid);
  const clients: pg.Client[] = [];
  try {
    print(`opening ${IDLE_CLIENTS} idle connections through the proxy…`);
    for (let opened = 0; opened < IDLE_CLIENTS; opened += CONNECT_BATCH_SIZE) {
      const batch = Array.from({ length: Math.min(CONNECT_BATCH_SIZE, IDLE_CLIENTS - opened) }, () => postgresClient(proxy.port));
      clients.push(...batch);
      await Promise.all(batch.map((client) => client.connect()));
    }
    await sleep(IDLE_SETTLE_MS);
    return { atStartBytes, beforeBytes, afterBytes: readRssBytes(proxy.pid), clients: clients.length };
  } finally {
    await Promise.allSettled(clients.map((client) => client.end()));
  }
}

// ---- report ----

function printSettings(settings: Settings, reference: Reference | undefined): void {
  print('');
  print(
    `pgbench -S -c ${PGBENCH_CLIENTS} -j ${PGBENCH_THREADS} -T ${settings.seconds}, scale ${PGBENCH_SCALE}, ` +
      `${settings.rounds} round(s) per target, median TPS shown; TCP to 127.0.0.1 for ${reference ? 'every target' : 'both targets'}`,
  );
  if (reference) print(`reference: ${reference.version}, pool_mode session, default_pool_size ${PGBOUNCER_POOL_SIZE}, on the same machine`);
  print('');
}

function printThroughput(results: ModeResult[], withReference: boolean): void {
  const headers = ['mode', 'direct TPS', 'proxy TPS', 'proxy/direct', `target >= ${TARGET_TPS_RATIO}`];
  if (withReference) headers.push('pgbouncer TPS', 'pgbouncer/direct', 'proxy/pgbouncer');
  const rows = results.map((result) => {
    const direct = median(result.tps.direct);
    const proxy = median(result.tps.proxy);
    const ratio = proxy / direct;
    const row = [result.mode, formatTps(direct), formatTps(proxy), ratio.toFixed(3), verdict(ratio >= TARGET_TPS_RATIO)];
    if (withReference) {
      const pgbouncer = median(result.tps.pgbouncer);
      row.push(formatTps(pgbouncer), (pgbouncer / direct).toFixed(3), (proxy / pgbouncer).toFixed(3));
    }
    return row;
  });
  printTable(headers, rows);
  if (withReference) print(`pgbouncer is context only: the target is the proxy's alone.`);
}

function printLlm(llm: LlmResult): void {
  print('');
  printTable(
    ['LLM calls through the proxy (mock provider)', 'value'],
    [
      ['SELECT 1, mean round trip', `${llm.plainMs.toFixed(2)} ms`],
      [`SELECT pg_llm_chat(...), zero-latency model`, `${llm.interceptedMs.toFixed(2)} ms`],
      ['overhead of an intercepted call', `${(llm.interceptedMs - llm.plainMs).toFixed(2)} ms (x${(llm.interceptedMs / llm.plainMs).toFixed(1)})`],
      ['first streamed row after the first chunk (median, upper bound)', `${llm.firstRowOverheadMs.toFixed(2)} ms`],
      [`target < ${FIRST_ROW_TARGET_MS} ms`, verdict(llm.firstRowOverheadMs < FIRST_ROW_TARGET_MS)],
    ],
  );
  print('The first-row figure counts everything before the model starts too (argument evaluation in the session).');
  const { serialMs, idealMs } = tableReference();
  print('');
  printTable(
    [`${TABLE_ROWS} rows, ${ROW_CALL_MS} ms per call, concurrency ${CALL_CONCURRENCY}`, 'wall', 'serial / wall', 'wall / ideal', `target <= ${TABLE_TARGET_FACTOR}x ideal`],
    ([
      ['SELECT id, pg_llm_chat(...) FROM t', llm.projectionMs],
      ['UPDATE t SET s = pg_llm_chat(...)', llm.updateMs],
    ] as const).map(([label, wall]) => [
      label,
      `${(wall / 1000).toFixed(2)} s`,
      `${(serialMs / wall).toFixed(1)}x`,
      `${(wall / idealMs).toFixed(2)}x`,
      verdict(wall <= idealMs * TABLE_TARGET_FACTOR),
    ]),
  );
  print(`serial: ${serialMs / 1000} s (one call at a time, as in-database extensions run them); ideal: ${idealMs / 1000} s.`);
}

function printWorker(worker: WorkerResult): void {
  const { originalMs, idealMs } = workerReference();
  print('');
  printTable(
    [`${WORKER_JOBS} llm.call jobs queued at once, ${JOB_CALL_MS} ms per call, --worker-concurrency ${WORKER_CONCURRENCY}`, 'value'],
    [
      ['time to drain the queue (commit to last answer written)', `${(worker.drainMs / 1000).toFixed(2)} s`],
      ['job latency, queued to written: median / 95th percentile', `${(worker.medianJobMs / 1000).toFixed(2)} s / ${(worker.p95JobMs / 1000).toFixed(2)} s`],
      ['ideal (calls in waves of the concurrency)', `${(idealMs / 1000).toFixed(2)} s`],
      [`drain / ideal (target <= ${DRAIN_TARGET_FACTOR}x)`, `${(worker.drainMs / idealMs).toFixed(2)}x ${verdict(worker.drainMs <= idealMs * DRAIN_TARGET_FACTOR)}`],
      ['postgres-llm (pg_cron every 5 s, batches of 20, one call at a time)', `${(originalMs / 1000).toFixed(0)} s`],
      ['speed-up over postgres-llm', `${(originalMs / worker.drainMs).toFixed(0)}x`],
    ],
  );
}

function printMemory(memory: MemoryResult): void {
  const perClient = (memory.afterBytes - memory.beforeBytes) / memory.clients;
  print('');
  printTable(
    ['proxy memory (VmRSS)', 'value'],
    [
      ['at startup', formatMiB(memory.atStartBytes)],
      ['before idle clients (after pgbench)', formatMiB(memory.beforeBytes)],
      [`with ${memory.clients} idle clients`, formatMiB(memory.afterBytes)],
      ['increment per idle client', `${(perClient / 1024).toFixed(1)} KiB`],
      [`target < ${formatMiB(TARGET_IDLE_RSS_BYTES)}`, verdict(memory.afterBytes < TARGET_IDLE_RSS_BYTES)],
    ],
  );
}

function printProxyOutput(output: string): void {
  print('');
  if (output.trim() === '') return print('proxy log at level warn: empty');
  const lines = output.trimEnd().split('\n');
  const shown = lines.slice(-20);
  print(`proxy log at level warn: ${lines.length} line(s)${lines.length > shown.length ? `, last ${shown.length}` : ''}:`);
  for (const line of shown) print(`  ${line}`);
}

function printTable(headers: string[], rows: string[][]): void {
  const widths = headers.map((header, column) => Math.max(header.length, ...rows.map((row) => row[column]!.length)));
  // Text columns read best left-aligned, figures right-aligned; the first column is always text.
  const cell = (text: string, column: number): string => (column === 0 ? text.padEnd(widths[column]!) : text.padStart(widths[column]!));
  const line = (cells: string[]): string => cells.map(cell).join('  ');
  print(line(headers));
  print(widths.map((width) => '-'.repeat(width)).join('  '));
  for (const row of rows) print(line(row));
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

function verdict(met: boolean): string {
  return met ? 'met' : 'MISSED';
}

function formatTps(tps: number): string {
  return tps.toFixed(0);
}

function formatMiB(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

/** Progress lines and the final tables alike: all of it is the benchmark's report. */
function print(text: string): void {
  process.stdout.write(`${text}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`benchmark failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
