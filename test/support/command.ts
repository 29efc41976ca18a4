// Runs the built pg-llm-proxy command (dist/src/main.js) as a user would, collecting what it prints.

import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';

const MAIN = fileURLToPath(new URL('../../dist/src/main.js', import.meta.url));

export interface Running {
  child: ChildProcess;
  /** Its standard output and error together, so far. */
  output: () => string;
  exited: Promise<number | null>;
}

export function launch(args: string[], env: NodeJS.ProcessEnv = {}): Running {
  const child = spawn(process.execPath, [MAIN, ...args], { env: { ...process.env, ...env } });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, output: () => output, exited };
}

export async function listening(running: Running): Promise<void> {
  await expect.poll(() => running.output(), { timeout: 20_000 }).toMatch(/proxy listening/);
}
