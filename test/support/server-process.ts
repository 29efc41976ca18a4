// A server run as a child process for the benchmark and the pg_regress comparison (the built proxy, pgbouncer):
// started, awaited until it accepts PostgreSQL connections, stopped with SIGTERM and killed if it lingers.

import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';

const READY_TIMEOUT_MS = 15_000;

export interface ServerProcess {
  pid: number;
  port: number;
  /** What it wrote to stdout/stderr: for the proxy at --log-level warn, anything here deserves a look. */
  output(): string;
  stop(): Promise<void>;
  killNow(): void;
}

export interface LaunchSpec {
  /** For messages: 'the proxy', 'pgbouncer'. */
  label: string;
  command: string;
  args: string[];
  port: number;
  options?: Pick<SpawnOptions, 'uid' | 'gid' | 'cwd' | 'env'>;
}

/** A client as the superuser postgres on 127.0.0.1 without TLS, which ignores the connection dropping while idle. */
export function postgresClient(port: number): pg.Client {
  const client = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres', ssl: false });
  // A connection dropped while idle would otherwise surface as an unhandled 'error' event and crash the process.
  client.on('error', () => undefined);
  return client;
}

/** Starts the child and resolves once it accepts PostgreSQL connections; kills it if it never does. */
export async function launch(spec: LaunchSpec): Promise<ServerProcess> {
  const child = spawn(spec.command, spec.args, { ...spec.options, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  let ended = false;
  const collect = (chunk: Buffer): void => void (output += chunk.toString('utf8'));
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  const exited = new Promise<void>((resolve) => {
    const end = (): void => {
      ended = true;
      resolve();
    };
    child.once('exit', end);
    // A binary that cannot be started at all (e.g. not executable by the user it runs as) reports only an 'error'.
    child.once('error', (error) => {
      output += `${error.message}\n`;
      end();
    });
  });

  const server: ServerProcess = {
    pid: child.pid ?? -1,
    port: spec.port,
    output: () => output,
    stop: () => stopChild(spec.label, child, exited, () => ended),
    killNow: () => void child.kill('SIGKILL'),
  };
  try {
    await waitUntilAccepting(spec.label, server, () => ended);
  } catch (error) {
    server.killNow();
    throw error;
  }
  return server;
}

/** Polls with a real PostgreSQL connection, which proves it reaches the upstream too, not only that it listens. */
async function waitUntilAccepting(label: string, server: ServerProcess, ended: () => boolean): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    if (ended()) throw new Error(`${label} exited during startup:\n${server.output()}`);
    const client = postgresClient(server.port);
    try {
      await client.connect();
      await client.end();
      return;
    } catch (error) {
      client.end().catch(() => undefined);
      if (Date.now() > deadline) throw new Error(`${label} did not accept connections within ${READY_TIMEOUT_MS} ms: ${String(error)}\n${server.output()}`);
    }
    await sleep(100);
  }
}

async function stopChild(label: string, child: ChildProcess, exited: Promise<void>, ended: () => boolean): Promise<void> {
  if (ended()) return;
  child.kill('SIGTERM');
  // Both shut down on SIGTERM (pgbouncer at once, the proxy gracefully); neither has clients left by now, so
  // anything slow is a hang.
  const timedOut = await Promise.race([exited.then(() => false), sleep(5000).then(() => true)]);
  if (timedOut) {
    process.stdout.write(`${label} did not exit within 5 s of SIGTERM: killing it\n`);
    child.kill('SIGKILL');
    await exited;
  }
}
