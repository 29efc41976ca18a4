// Benchmark of the proxy against PostgreSQL itself: pgbench read-only throughput, direct and through the proxy,
// for each query protocol; the LLM functions and the llm.call worker with the mock provider (llm.ts, worker.ts), a
// pgai vectorizer against a fake OpenAI server (vectorizer.ts); other sessions' waits while calls with big prompts
// and answers run (big-calls.ts); then the proxy's resident memory with 1,000 idle clients. It reports whether the
// targets are met but never fails on a miss: the exit code is non-zero only when something breaks.
//
// PgBouncer in session mode is measured alongside (pgbouncer.ts), and so is the least relay Node.js can be
// (node-relay.ts); for them and the proxy the CPU time each takes per transaction: the pass-through path's cost, held
// against PgBouncer's and against the runtime's own. Each pgbench run is a fixed number of transactions, so every
// target does the same work.
//
// Environment: BENCH_TRANSACTIONS (per pgbench run, all clients together, default 50000), BENCH_ROUNDS (runs per
// target and mode, default 2).

import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { measureBigCalls, type BigCallsResult } from './big-calls.js';
import { CALL_CONCURRENCY, FIRST_ROW_TARGET_MS, measureLlm, ROW_CALL_MS, TABLE_ROWS, TABLE_TARGET_FACTOR, tableReference, type LlmResult } from './llm.js';
import pg from 'pg';
import { PGBOUNCER_POOL_SIZE, startReferencePgbouncer, type Reference } from './pgbouncer.js';
import { cpuSince, readCpuTime, type CpuTime } from './process-cpu.js';
import { DRAIN_TARGET_FACTOR, JOB_CALL_MS, measureWorker, prepareWorkerDatabase, WORKER_CONCURRENCY, WORKER_DATABASE, WORKER_JOBS, workerReference, type WorkerResult } from './worker.js';
import { CHUNKS_PER_ROW, EMBEDDING_CALL_MS, HIGHER_CONCURRENCY, measureVectorizer, VECTORIZER_ROWS, vectorizerEnvironment, vectorizerIdealMs, type VectorizerResult } from './vectorizer.js';
import { freePort, serverBinDir, startCluster, type Cluster } from '../support/cluster.js';
import { startFakeProvider, type FakeProvider } from '../support/fake-provider.js';
import { launch, postgresClient, type ServerProcess } from '../support/server-process.js';

const TARGET_TPS_RATIO = 0.8;
/** The proxy's CPU time per transaction at most this many times PgBouncer's. */
const TARGET_CPU_RATIO = 1.2;
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

type QueryMode = (typeof MODES)[number];
type TargetName = 'direct' | 'proxy' | 'node relay' | 'pgbouncer';

interface Settings {
  transactions: number;
  rounds: number;
}

interface Endpoint {
  name: TargetName;
  port: number;
  /** The process whose CPU time is measured; none for PostgreSQL itself, whose work is spread over its backends. */
  pid?: number;
}

interface ModeResult {
  mode: QueryMode;
  /** TPS of each round per target; empty for pgbouncer when it is not measured. */
  tps: Record<TargetName, number[]>;
  /** CPU time per transaction of each round, for the targets with a pid. */
  cpu: Record<TargetName, CpuTime[]>;
}

interface MemoryResult {
  atStartBytes: number;
  beforeBytes: number;
  afterBytes: number;
  clients: number;
}

const PROJECT_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const PROXY_MAIN = path.join(PROJECT_ROOT, 'dist', 'src', 'main.js');
const NODE_RELAY_MAIN = path.join(PROJECT_ROOT, 'dist', 'test', 'bench', 'node-relay.js');

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
  let nodeRelay: ServerProcess | undefined;
  try {
    print(`starting PostgreSQL (max_connections 1100)…`);
    const cluster = await startCluster({ maxConnections: 1100 });
    cleanups.push(() => cluster.stop());
    await prepareWorkerDatabase(cluster.port);
    const embeddings = await startFakeProvider({ embeddingDelayMs: EMBEDDING_CALL_MS });
    cleanups.push(() => void embeddings.close());

    proxy = await startProxy(cluster, embeddings);
    cleanups.push(() => proxy?.killNow());
    const rssAtStart = readRssBytes(proxy.pid);

    nodeRelay = await startNodeRelay(cluster);
    cleanups.push(() => nodeRelay?.killNow());

    reference = await startReferencePgbouncer(cluster, print);
    cleanups.push(() => reference?.server.killNow());

    print(`initialising pgbench data (scale ${PGBENCH_SCALE})…`);
    await runPgbench(['-i', '-s', String(PGBENCH_SCALE), ...connectionArgs(cluster.port)]);

    const targets: Endpoint[] = [
      { name: 'direct', port: cluster.port },
      { name: 'proxy', port: proxy.port, pid: proxy.pid },
      { name: 'node relay', port: nodeRelay.port, pid: nodeRelay.pid },
      ...(reference ? [{ name: 'pgbouncer' as const, port: reference.server.port, pid: reference.server.pid }] : []),
    ];
    await warmUp(targets);
    const throughput: ModeResult[] = [];
    for (const mode of MODES) throughput.push(await benchmarkMode(mode, targets, settings));

    print('measuring the LLM functions with the mock provider…');
    const llm = await measureLlm(proxy.port);
    print(`draining ${WORKER_JOBS} llm.call jobs with the proxy's worker…`);
    const worker = await measureWorker(proxy.port);
    print(`embedding ${VECTORIZER_ROWS} rows × ${CHUNKS_PER_ROW} chunks with a vectorizer, at pgai's default concurrency and at ${HIGHER_CONCURRENCY}…`);
    const vectorizer = [await measureVectorizer(proxy.port, embeddings), await measureVectorizer(proxy.port, embeddings, HIGHER_CONCURRENCY)];
    print('measuring how long other sessions wait while calls with big prompts and answers run…');
    const bigCalls = await measureBigCalls(proxy.port, cluster.port, embeddings);
    const memory = await measureIdleMemory(proxy, rssAtStart);

    printSettings(settings, reference);
    printThroughput(throughput, reference !== undefined);
    printCpu(throughput, reference !== undefined);
    printLlm(llm);
    printWorker(worker);
    printVectorizer(vectorizer);
    printBigCalls(bigCalls);
    printMemory(memory);
    printProxyOutput(proxy.output());
  } finally {
    await reference?.server.stop();
    await nodeRelay?.stop();
    await proxy?.stop();
    cleanUp();
  }
}

function readSettings(): Settings {
  return {
    transactions: positiveIntegerFromEnv('BENCH_TRANSACTIONS', 50_000),
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

// ---- the proxy ----

async function startProxy(cluster: Cluster, embeddings: FakeProvider): Promise<ServerProcess> {
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
  return launch({ label: 'the proxy', command: process.execPath, args, port, options: { env: { ...process.env, ...vectorizerEnvironment(embeddings) } } });
}

async function startNodeRelay(cluster: Cluster): Promise<ServerProcess> {
  const port = await freePort();
  print(`starting the least Node.js relay on 127.0.0.1:${port}…`);
  return launch({ label: 'the Node.js relay', command: process.execPath, args: [NODE_RELAY_MAIN, String(port), String(cluster.port)], port });
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

/** `length`: a fixed number of transactions (all clients together), or a duration for the warm-up. */
function selectOnlyArgs(mode: QueryMode, length: { transactions: number } | { seconds: number }, endpoint: Endpoint): string[] {
  return [
    '-S', '-n',
    '-M', mode,
    '-c', String(PGBENCH_CLIENTS),
    '-j', String(PGBENCH_THREADS),
    ...('transactions' in length ? ['-t', String(Math.ceil(length.transactions / PGBENCH_CLIENTS))] : ['-T', String(length.seconds)]),
    ...connectionArgs(endpoint.port),
  ];
}

/** The tps line; its wording changed in PostgreSQL 14. */
function parseTps(output: string): number {
  const match = /^tps = ([\d.]+) \((?:without initial connection time|excluding connections establishing)\)/m.exec(output);
  if (!match) throw new Error(`no tps line in pgbench's output:\n${output}`);
  return Number(match[1]);
}

function parseTransactions(output: string): number {
  const match = /^number of transactions actually processed: (\d+)/m.exec(output);
  if (!match) throw new Error(`no transaction count in pgbench's output:\n${output}`);
  return Number(match[1]);
}

async function warmUp(endpoints: Endpoint[]): Promise<void> {
  for (const endpoint of endpoints) {
    print(`warming up ${endpoint.name} (${WARMUP_SECONDS} s)…`);
    await runPgbench(selectOnlyArgs('simple', { seconds: WARMUP_SECONDS }, endpoint));
  }
}

async function benchmarkMode(mode: QueryMode, targets: Endpoint[], settings: Settings): Promise<ModeResult> {
  const result: ModeResult = { mode, tps: { direct: [], proxy: [], 'node relay': [], pgbouncer: [] }, cpu: { direct: [], proxy: [], 'node relay': [], pgbouncer: [] } };
  const nameWidth = Math.max(...targets.map((target) => target.name.length));
  for (let round = 0; round < settings.rounds; round++) {
    for (const endpoint of rotate(targets, round)) {
      const before = endpoint.pid === undefined ? undefined : readCpuTime(endpoint.pid);
      const output = await runPgbench(selectOnlyArgs(mode, { transactions: settings.transactions }, endpoint));
      const tps = parseTps(output);
      result.tps[endpoint.name].push(tps);
      let line = `  ${mode.padEnd(8)} round ${round + 1}/${settings.rounds}  ${endpoint.name.padEnd(nameWidth)} ${formatTps(tps)} tps`;
      if (before) {
        const cpu = perTransaction(cpuSince(before, readCpuTime(endpoint.pid!)), parseTransactions(output));
        result.cpu[endpoint.name].push(cpu);
        line += `  ${formatCpu(cpu)} CPU per transaction`;
      }
      print(line);
    }
  }
  return result;
}

function perTransaction(cpu: CpuTime, transactions: number): CpuTime {
  return { userMicros: cpu.userMicros / transactions, systemMicros: cpu.systemMicros / transactions };
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
    `pgbench -S -c ${PGBENCH_CLIENTS} -j ${PGBENCH_THREADS}, ${settings.transactions} transactions per run, scale ${PGBENCH_SCALE}, ` +
      `${settings.rounds} round(s) per target, medians shown; TCP to 127.0.0.1 for ${reference ? 'every target' : 'both targets'}`,
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
}

/** The process's CPU time per transaction, user + system, side by side with the least Node.js relay's and PgBouncer's. */
function printCpu(results: ModeResult[], withReference: boolean): void {
  print('');
  const headers = ['mode', 'proxy TPS', 'proxy CPU/txn (user+sys)', 'node relay CPU/txn', 'CPU proxy/node relay'];
  if (withReference) headers.push('pgbouncer TPS', 'pgbouncer CPU/txn (user+sys)', 'CPU node relay/pgbouncer', 'CPU proxy/pgbouncer', `target <= ${TARGET_CPU_RATIO}`);
  const rows = results.map((result) => {
    const proxy = medianCpu(result.cpu.proxy);
    const nodeRelay = medianCpu(result.cpu['node relay']);
    const row = [result.mode, formatTps(median(result.tps.proxy)), formatCpu(proxy), formatCpu(nodeRelay), `${(total(proxy) / total(nodeRelay)).toFixed(2)}x`];
    if (withReference) {
      const pgbouncer = medianCpu(result.cpu.pgbouncer);
      const ratio = total(proxy) / total(pgbouncer);
      row.push(formatTps(median(result.tps.pgbouncer)), formatCpu(pgbouncer), `${(total(nodeRelay) / total(pgbouncer)).toFixed(2)}x`, `${ratio.toFixed(2)}x`, verdict(ratio <= TARGET_CPU_RATIO));
    }
    return row;
  });
  printTable(headers, rows);
  print('CPU: the process\'s own user and system time (/proc/<pid>/stat), all threads, per transaction; medians of the rounds.');
  print('node relay: bytes copied both ways and nothing else (node-relay.ts), the floor of a relay on this runtime.');
}

/** Median total, and the median user and system parts. */
function medianCpu(values: CpuTime[]): CpuTime & { totalMicros: number } {
  return {
    userMicros: median(values.map((value) => value.userMicros)),
    systemMicros: median(values.map((value) => value.systemMicros)),
    totalMicros: median(values.map(total)),
  };
}

function total(cpu: CpuTime & { totalMicros?: number }): number {
  return cpu.totalMicros ?? cpu.userMicros + cpu.systemMicros;
}

function formatCpu(cpu: CpuTime & { totalMicros?: number }): string {
  return `${total(cpu).toFixed(1)} µs (${cpu.userMicros.toFixed(1)}+${cpu.systemMicros.toFixed(1)})`;
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

function printVectorizer(results: VectorizerResult[]): void {
  print('');
  printTable(
    [`pgai vectorizer: ${VECTORIZER_ROWS} rows × ${CHUNKS_PER_ROW} chunks inserted at once, ${EMBEDDING_CALL_MS} ms per embedding request`, 'value'],
    results.flatMap((result) => {
      const idealMs = vectorizerIdealMs(result.concurrency);
      const runs = result.concurrency === undefined ? 'processing_default() (50 rows a batch, concurrency 1)' : `processing_default(concurrency => ${result.concurrency})`;
      return [
        [runs, ''],
        ['  time to converge (commit to last chunk stored)', `${(result.convergeMs / 1000).toFixed(2)} s`],
        ['  ideal (one request per batch of 50 rows, batches in waves of the concurrency)', `${(idealMs / 1000).toFixed(2)} s`],
        ['  converge / ideal', `${(result.convergeMs / idealMs).toFixed(2)}x`],
        ['  embedding requests made', String(result.requests)],
        ['  chunks sent / distinct (each embedded once when equal)', `${result.embedded} / ${result.distinct}`],
      ];
    }),
  );
}

function printBigCalls(results: BigCallsResult[]): void {
  print('');
  printTable(
    ['other sessions while big calls or statements run', 'calls took', 'SELECT 1 via proxy: worst', 'p99', 'direct: worst', 'p99'],
    results.map(({ scenario, callsMs, proxy, direct }) => [scenario, `${(callsMs / 1000).toFixed(1)} s`, ...[proxy.worstMs, proxy.p99Ms, direct.worstMs, direct.p99Ms].map((ms) => `${ms.toFixed(0)} ms`)]),
  );
  print('SELECT 1 every 5 ms from processes of their own; direct: the same sent to PostgreSQL meanwhile, the machine\'s load alone.');
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
