// Benchmark of the proxy against PostgreSQL itself: pgbench read-only throughput, direct and through the proxy,
// for each query protocol; then the proxy's resident memory with 1,000 idle clients. It reports whether the
// targets are met but never fails on a miss: the exit code is non-zero only when something breaks.
//
// Environment: BENCH_SECONDS (length of each pgbench run, default 10), BENCH_ROUNDS (runs per target and mode,
// default 2).

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { freePort, serverBinDir, startCluster, type Cluster } from '../support/cluster.js';

const TARGET_TPS_RATIO = 0.8;
const TARGET_IDLE_RSS_BYTES = 200 * 1024 * 1024;
const IDLE_CLIENTS = 1000;
// Enough concurrency to open 1,000 connections quickly without a fork storm on the server.
const CONNECT_BATCH_SIZE = 50;
const IDLE_SETTLE_MS = 2000;
const PROXY_READY_TIMEOUT_MS = 15_000;
// A short unmeasured run per target first, so neither side pays for cold caches or the proxy's JIT warm-up.
const WARMUP_SECONDS = 2;
const PGBENCH_SCALE = 10;
const PGBENCH_CLIENTS = 8;
const PGBENCH_THREADS = 2;
const MODES = ['simple', 'extended', 'prepared'] as const;

type QueryMode = (typeof MODES)[number];
type TargetName = 'direct' | 'proxy';

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
  direct: number[];
  proxy: number[];
}

interface MemoryResult {
  atStartBytes: number;
  beforeBytes: number;
  afterBytes: number;
  clients: number;
}

interface ProxyProcess {
  pid: number;
  port: number;
  /** What the proxy wrote to stdout/stderr: at --log-level warn, anything here deserves a look. */
  output(): string;
  stop(): Promise<void>;
  killNow(): void;
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

  let proxy: ProxyProcess | undefined;
  try {
    print(`starting PostgreSQL (max_connections 1100)…`);
    const cluster = await startCluster({ maxConnections: 1100 });
    cleanups.push(() => cluster.stop());

    proxy = await startProxy(cluster);
    cleanups.push(() => proxy?.killNow());
    const rssAtStart = readRssBytes(proxy.pid);

    print(`initialising pgbench data (scale ${PGBENCH_SCALE})…`);
    await runPgbench(['-i', '-s', String(PGBENCH_SCALE), ...connectionArgs(cluster.port)]);

    const direct: Endpoint = { name: 'direct', port: cluster.port };
    const viaProxy: Endpoint = { name: 'proxy', port: proxy.port };
    await warmUp([direct, viaProxy]);
    const throughput: ModeResult[] = [];
    for (const mode of MODES) throughput.push(await benchmarkMode(mode, direct, viaProxy, settings));

    const memory = await measureIdleMemory(proxy, rssAtStart);

    printSettings(settings);
    printThroughput(throughput);
    printMemory(memory);
    printProxyOutput(proxy.output());
  } finally {
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

// ---- the proxy process ----

async function startProxy(cluster: Cluster): Promise<ProxyProcess> {
  const port = await freePort();
  const args = [
    PROXY_MAIN,
    '--listen', `127.0.0.1:${port}`,
    '--upstream', `postgres://127.0.0.1:${cluster.port}/?sslmode=disable`,
    '--admin', 'off',
    '--embedded', 'never',
    '--log-level', 'warn',
  ];
  print(`starting the proxy on 127.0.0.1:${port}…`);
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const collect = (chunk: Buffer): void => void (output += chunk.toString('utf8'));
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));

  const proxy: ProxyProcess = {
    pid: child.pid!,
    port,
    output: () => output,
    stop: () => stopChild(child, exited),
    killNow: () => void child.kill('SIGKILL'),
  };
  try {
    await waitUntilAccepting(port, child, () => output);
  } catch (error) {
    proxy.killNow();
    throw error;
  }
  return proxy;
}

/** Polls with a real PostgreSQL connection, which proves the proxy reaches the upstream too, not only that it listens. */
async function waitUntilAccepting(port: number, child: ChildProcess, output: () => string): Promise<void> {
  const deadline = Date.now() + PROXY_READY_TIMEOUT_MS;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`the proxy exited during startup (${child.exitCode ?? child.signalCode}):\n${output()}`);
    }
    const client = newClient(port);
    try {
      await client.connect();
      await client.end();
      return;
    } catch (error) {
      client.end().catch(() => undefined);
      if (Date.now() > deadline) throw new Error(`the proxy did not accept connections within ${PROXY_READY_TIMEOUT_MS} ms: ${String(error)}\n${output()}`);
    }
    await sleep(100);
  }
}

async function stopChild(child: ChildProcess, exited: Promise<void>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  // The proxy shuts down gracefully on SIGTERM; it has no clients left by now, so anything slow is a hang.
  const timedOut = await Promise.race([exited.then(() => false), sleep(5000).then(() => true)]);
  if (timedOut) {
    print('the proxy did not exit within 5 s of SIGTERM: killing it');
    child.kill('SIGKILL');
    await exited;
  }
}

// ---- pgbench ----

function pgbenchPath(): string {
  // The server's own pgbench matches its version; the one on PATH is the fallback.
  const besideServer = path.join(serverBinDir(), 'pgbench');
  return existsSync(besideServer) ? besideServer : 'pgbench';
}

/** TCP on 127.0.0.1 for both targets, so the direct figures are not flattered by a Unix socket. */
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

async function benchmarkMode(mode: QueryMode, direct: Endpoint, viaProxy: Endpoint, settings: Settings): Promise<ModeResult> {
  const result: ModeResult = { mode, direct: [], proxy: [] };
  for (let round = 0; round < settings.rounds; round++) {
    // Alternating which side runs first keeps drift (caches, autovacuum, thermal) from favouring one side.
    const order = round % 2 === 0 ? [direct, viaProxy] : [viaProxy, direct];
    for (const endpoint of order) {
      const tps = parseTps(await runPgbench(selectOnlyArgs(mode, settings.seconds, endpoint)));
      result[endpoint.name].push(tps);
      print(`  ${mode.padEnd(8)} round ${round + 1}/${settings.rounds}  ${endpoint.name.padEnd(6)} ${formatTps(tps)} tps`);
    }
  }
  return result;
}

// ---- idle-connection memory ----

function readRssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(status);
  if (!match) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(match[1]) * 1024;
}

function newClient(port: number): pg.Client {
  const client = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres', ssl: false });
  // A connection dropped while idle would otherwise surface as an unhandled 'error' event and crash the benchmark.
  client.on('error', () => undefined);
  return client;
}

async function measureIdleMemory(proxy: ProxyProcess, atStartBytes: number): Promise<MemoryResult> {
  const beforeBytes = readRssBytes(proxy.pid);
  const clients: pg.Client[] = [];
  try {
    print(`opening ${IDLE_CLIENTS} idle connections through the proxy…`);
    for (let opened = 0; opened < IDLE_CLIENTS; opened += CONNECT_BATCH_SIZE) {
      const batch = Array.from({ length: Math.min(CONNECT_BATCH_SIZE, IDLE_CLIENTS - opened) }, () => newClient(proxy.port));
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

function printSettings(settings: Settings): void {
  print('');
  print(
    `pgbench -S -c ${PGBENCH_CLIENTS} -j ${PGBENCH_THREADS} -T ${settings.seconds}, scale ${PGBENCH_SCALE}, ` +
      `${settings.rounds} round(s) per target, median TPS shown; TCP to 127.0.0.1 for both targets`,
  );
  print('');
}

function printThroughput(results: ModeResult[]): void {
  const rows = results.map((result) => {
    const direct = median(result.direct);
    const proxy = median(result.proxy);
    const ratio = proxy / direct;
    return [result.mode, formatTps(direct), formatTps(proxy), ratio.toFixed(3), verdict(ratio >= TARGET_TPS_RATIO)];
  });
  printTable(['mode', 'direct TPS', 'proxy TPS', 'proxy/direct', `target >= ${TARGET_TPS_RATIO}`], rows);
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
