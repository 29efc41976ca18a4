// PostgreSQL's regression suite (parallel_schedule) against one throwaway cluster directly and another through the
// proxy (the built dist/src/main.js): prints the pass counts side by side and the tests that fail only through the
// proxy, and exits 1 if there are any. run.sh fetches the suite and builds its C library, then starts this.

import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { freePort, serverBinDir, startCluster, type Cluster } from '../support/cluster.js';
import { launch, postgresClient, type ServerProcess } from '../support/server-process.js';

const PROXY_MAIN = fileURLToPath(new URL('../../src/main.js', import.meta.url));
// As the suite's own Makefile runs it (installcheck-parallel).
const MAX_CONCURRENT_TESTS = 20;

interface Settings {
  suite: string;
  suiteVersion: string;
  dlpath: string;
  out: string;
  pgRegress: string;
}

interface Outcome {
  server: string;
  passed: string[];
  failed: string[];
  /** Where pg_regress left its results and regression.diffs. */
  outputDir: string;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { suite: { type: 'string' }, 'suite-version': { type: 'string' }, dlpath: { type: 'string' }, out: { type: 'string' }, 'pg-regress': { type: 'string' } },
  });
  if (!values.suite || !values['suite-version'] || !values.dlpath || !values.out || !values['pg-regress']) {
    throw new Error('usage: compare.js --suite DIR --suite-version V --dlpath DIR --out DIR --pg-regress FILE (run.sh passes them)');
  }
  const settings: Settings = { suite: values.suite, suiteVersion: values['suite-version'], dlpath: values.dlpath, out: values.out, pgRegress: values['pg-regress'] };
  const direct = await runSuite(settings, 'direct');
  const proxied = await runSuite(settings, 'proxy');
  const failedOnlyThroughProxy = proxied.failed.filter((test) => !direct.failed.includes(test));
  report(settings, direct, proxied, failedOnlyThroughProxy);
  process.exitCode = failedOnlyThroughProxy.length > 0 ? 1 : 0;
}

/** Runs the schedule against a fresh cluster, through a proxy in front of it for 'proxy'. */
async function runSuite(settings: Settings, target: 'direct' | 'proxy'): Promise<Outcome> {
  print(`running parallel_schedule ${target === 'direct' ? 'directly' : 'through the proxy'}…`);
  const cluster = await startCluster();
  let proxy: ServerProcess | undefined;
  try {
    if (target === 'proxy') proxy = await startProxy(cluster);
    const outputDir = path.join(settings.out, target);
    rmSync(outputDir, { recursive: true, force: true });
    // The server writes files here (COPY … TO), as another user when this runs as root.
    mkdirSync(path.join(outputDir, 'results'), { recursive: true });
    chmodSync(path.join(outputDir, 'results'), 0o1777);
    const output = await pgRegress(settings, proxy?.port ?? cluster.port, outputDir);
    writeFileSync(path.join(outputDir, 'pg_regress.log'), output);
    return { server: await serverVersion(cluster.port), ...parseOutcome(output), outputDir };
  } finally {
    await proxy?.stop();
    cluster.stop();
  }
}

async function startProxy(cluster: Cluster): Promise<ServerProcess> {
  const port = await freePort();
  const args = [PROXY_MAIN, '--listen', `127.0.0.1:${port}`, '--upstream', `postgres://127.0.0.1:${cluster.port}/?sslmode=disable`, '--admin', 'off', '--embedded', 'never', '--log-level', 'warn'];
  return launch({ label: 'the proxy', command: process.execPath, args, port });
}

function pgRegress(settings: Settings, port: number, outputDir: string): Promise<string> {
  const args = [
    `--inputdir=${settings.suite}`,
    `--outputdir=${outputDir}`,
    `--bindir=${serverBinDir()}`,
    `--dlpath=${settings.dlpath}`,
    '--host=127.0.0.1',
    `--port=${port}`,
    '--user=postgres',
    `--max-concurrent-tests=${MAX_CONCURRENT_TESTS}`,
    `--schedule=${path.join(settings.suite, 'parallel_schedule')}`,
  ];
  return new Promise((resolve, reject) => {
    const child = spawn(settings.pgRegress, args, { cwd: settings.suite, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('error', reject);
    // pg_regress exits 1 when a test fails: the outcome is in its output either way.
    child.on('close', () => resolve(output));
  });
}

/** pg_regress 15 prints one line per test: "test NAME ... ok" alone, "     NAME ... FAILED" in a parallel group. */
function parseOutcome(output: string): Pick<Outcome, 'passed' | 'failed'> {
  const passed: string[] = [];
  const failed: string[] = [];
  for (const [, name, result] of output.matchAll(/^(?:test)?\s+(\S+)\s+\.\.\.\s+(ok|FAILED|failed \(ignored\))/gm)) {
    (result === 'ok' ? passed : failed).push(name!);
  }
  if (passed.length + failed.length === 0) throw new Error(`pg_regress ran no test:\n${output}`);
  return { passed, failed };
}

async function serverVersion(port: number): Promise<string> {
  const client = postgresClient(port);
  await client.connect();
  try {
    return (await client.query('SHOW server_version')).rows[0].server_version;
  } finally {
    await client.end();
  }
}

function report(settings: Settings, direct: Outcome, proxied: Outcome, failedOnlyThroughProxy: string[]): void {
  const failedBothWays = direct.failed.filter((test) => proxied.failed.includes(test));
  const differently = failedBothWays.filter((test) => resultOf(direct, test) !== resultOf(proxied, test));
  const count = (outcome: Outcome): string => `${outcome.passed.length} of ${outcome.passed.length + outcome.failed.length}`;
  print('');
  print(`pg_regress parallel_schedule: suite of postgresql-15 ${settings.suiteVersion}, server ${direct.server}`);
  print(`  passed directly:          ${count(direct)}`);
  print(`  passed through the proxy: ${count(proxied)}`);
  print(`  fail only through the proxy: ${list(failedOnlyThroughProxy)}`);
  print(`  fail only directly: ${list(direct.failed.filter((test) => !proxied.failed.includes(test)))}`);
  print(`  fail both ways: ${list(failedBothWays)}${failedBothWays.length ? `; with another output through the proxy: ${list(differently)}` : ''}`);
  print(`  outputs and regression.diffs: ${direct.outputDir}, ${proxied.outputDir}`);
}

function resultOf(outcome: Outcome, test: string): string | undefined {
  const file = path.join(outcome.outputDir, 'results', `${test}.out`);
  return existsSync(file) ? readFileSync(file, 'utf8') : undefined;
}

function list(tests: string[]): string {
  return tests.length ? tests.join(', ') : 'none';
}

function print(text: string): void {
  process.stdout.write(`${text}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`pg_regress comparison failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(2);
});
