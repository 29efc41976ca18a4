// Runs a client program (psql, a driver script) as a child process with a hang guard: a child still running after
// guardMs is killed, and the result says so, so a client that hangs fails its test instead of stalling the run.

import { spawn, type ChildProcess } from 'node:child_process';

export interface GuardedRunOptions {
  env?: NodeJS.ProcessEnv;
  input?: string;
  guardMs: number;
  /** Called once the child is running, e.g. to signal it mid-query. */
  started?: (child: ChildProcess) => void;
}

export interface GuardedRunResult {
  status: number | null;
  stdout: Buffer;
  stderr: string;
  /** Set when the hang guard killed the child. */
  killedAfterMs?: number;
}

export function runGuarded(command: string, args: string[], options: GuardedRunOptions): Promise<GuardedRunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env: options.env ?? process.env });
    const stdout: Buffer[] = [];
    let stderr = '';
    let killedAfterMs: number | undefined;
    const guard = setTimeout(() => {
      killedAfterMs = options.guardMs;
      child.kill('SIGKILL');
    }, options.guardMs);
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', (error) => {
      clearTimeout(guard);
      reject(error);
    });
    child.on('close', (status) => {
      clearTimeout(guard);
      resolve({ status, stdout: Buffer.concat(stdout), stderr, ...(killedAfterMs === undefined ? {} : { killedAfterMs }) });
    });
    child.stdin.on('error', () => {});
    child.stdin.end(options.input ?? '');
    options.started?.(child);
  });
}
