// Runs the real psql client, as a user would, against a host and port.

import type { ChildProcess } from 'node:child_process';
import { runGuarded } from './guarded-run.js';

export interface PsqlResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

export interface PsqlOptions {
  port: number;
  user?: string;
  password?: string;
  database?: string;
  /** Extra libpq connection parameters, e.g. { sslmode: 'verify-full', sslrootcert: file }. */
  params?: Record<string, string>;
  input?: string;
  /** psql is killed if still running after this long (default 60 s). */
  guardMs?: number;
  /** Called once psql is running, e.g. to interrupt it mid-query. */
  started?: (child: ChildProcess) => void;
}

export async function psql(args: string[], options: PsqlOptions): Promise<PsqlResult> {
  const result = await psqlBytes(args, options);
  return { ...result, stdout: result.stdout.toString() };
}

/** psql with its output as bytes, for what is not text (COPY in binary format). */
export async function psqlBytes(args: string[], options: PsqlOptions): Promise<{ status: number | null; stdout: Buffer; stderr: string }> {
  const params = { host: '127.0.0.1', port: String(options.port), user: options.user ?? 'postgres', dbname: options.database ?? 'postgres', sslmode: 'disable', ...options.params };
  const conninfo = Object.entries(params)
    .map(([key, value]) => `${key}='${value.replace(/'/g, "\\'")}'`)
    .join(' ');
  const result = await runGuarded('psql', ['-X', '-A', '-t', '-v', 'ON_ERROR_STOP=1', ...args, conninfo], {
    env: { ...process.env, PGPASSWORD: options.password ?? '', PGCONNECT_TIMEOUT: '10' },
    guardMs: options.guardMs ?? 60_000,
    ...(options.input === undefined ? {} : { input: options.input }),
    ...(options.started ? { started: options.started } : {}),
  });
  const guardNote = result.killedAfterMs === undefined ? '' : `psql killed by the hang guard after ${result.killedAfterMs} ms\n`;
  return { status: result.status, stdout: result.stdout, stderr: result.stderr + guardNote };
}

/** A psql still running: what it has printed so far, and its end. */
export interface RunningPsql {
  readonly child: ChildProcess;
  stdout(): string;
  done: Promise<PsqlResult>;
}

export function startPsql(args: string[], options: PsqlOptions): RunningPsql {
  let child: ChildProcess | undefined;
  let printed = '';
  // psql starts its child before its first await, so the child is known when this returns.
  const done = psql(args, {
    ...options,
    started: (running) => {
      child = running;
      running.stdout!.on('data', (chunk: Buffer) => (printed += chunk.toString()));
      options.started?.(running);
    },
  });
  return {
    get child() {
      return child!;
    },
    stdout: () => printed,
    done,
  };
}
