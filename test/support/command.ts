// The pg-llm-proxy command as a user runs it: the built dist/src/main.js in a child process, its output collected.

import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';

export const MAIN = fileURLToPath(new URL('../../dist/src/main.js', import.meta.url));

export interface Running {
  child: ChildProcess;
  /** stdout and stderr so far, interleaved. */
  output: () => string;
  exited: Promise<number | null>;
}

/**
 * Runs the command (or another that runs it, given `args` to run it with) with this process's environment plus
 * `env` (an undefined value removes a variable). Its Unix socket is off unless asked for, so that commands run in
 * parallel share no path in /tmp.
 */
export function launch(args: string[], env: NodeJS.ProcessEnv = {}, wrapper?: string): Running {
  const command = wrapper === undefined ? [process.execPath, MAIN, ...args] : [wrapper, ...args];
  const child = spawn(command[0]!, command.slice(1), { env: { ...process.env, PG_LLM_SOCKET_DIR: '', ...env } });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, output: () => output, exited };
}

/** Waits for the line that says the proxy listens; a new embedded cluster's initdb may take longer than the default. */
export async function listening(running: Running, timeout = 20_000): Promise<void> {
  await expect.poll(() => running.output(), { timeout }).toMatch(/proxy listening/);
}

/** The exit status, or 'still running' once `ms` have passed: a hang guard, not a measure. */
export function exitWithin(running: Running, ms: number): Promise<number | null | string> {
  return Promise.race([running.exited, new Promise<string>((resolve) => setTimeout(() => resolve('still running'), ms))]);
}
