// `npm start` as a newcomer runs it: with dist/ up to date it starts without compiling again, and a SIGTERM to npm
// stops the proxy and everything it started, the embedded PostgreSQL included.

import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { freePort } from '../support/cluster.js';
import { psql } from '../support/psql.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BUILT = fileURLToPath(new URL('../../dist/src/main.js', import.meta.url));

describe('npm start', () => {
  it('reuses an up-to-date build, and SIGTERM to npm stops the proxy and all it started', async () => {
    const builtAt = statSync(BUILT).mtimeMs;
    const port = await freePort();
    const args = ['start', '--', '--listen', `127.0.0.1:${port}`, '--admin', 'off', '--embedded', 'always', '--embedded-data', 'memory'];
    // No Unix socket: tests running at once would share its path in /tmp. The embedded server's password is ours.
    const password = 'npm start test password';
    const npm = spawn('npm', args, { cwd: ROOT, env: { ...process.env, PG_LLM_SOCKET_DIR: '', PG_LLM_EMBEDDED_PASSWORD: password } });
    let output = '';
    npm.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    npm.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => npm.on('exit', (code) => resolve(code)));
    await expect.poll(() => output, { timeout: 60_000 }).toMatch(/proxy listening/);
    expect(output, 'dist/ must be built from the current sources (npm run build) for this test').not.toMatch(/compiling/);
    expect(statSync(BUILT).mtimeMs).toBe(builtAt);
    expect((await psql(['-c', 'SELECT 20 + 22'], { port, password })).stdout.trim()).toBe('42');
    const started = descendants(npm.pid!);
    expect(started.length).toBeGreaterThan(1); // the proxy and the embedded PostgreSQL

    npm.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(await accepts(port)).toBe(false);
    await expect.poll(() => started.filter(alive), { timeout: 20_000 }).toEqual([]);
  }, 120_000);
});

/** The processes below `pid`, read from /proc. */
function descendants(pid: number): number[] {
  const parents = new Map<number, number>();
  for (const entry of readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
    const stat = procStat(Number(entry));
    if (stat) parents.set(Number(entry), stat.parent);
  }
  const below = (parent: number): number[] => [...parents].filter(([, of]) => of === parent).flatMap(([child]) => [child, ...below(child)]);
  return below(pid);
}

/** A process's parent and state ('Z' once it has exited and awaits its parent), or undefined when it is gone. */
function procStat(pid: number): { parent: number; state: string } | undefined {
  try {
    // The command name, in parentheses, may hold spaces: the fields that follow it are counted from its end.
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '').split(' ');
    return { state: fields[0]!, parent: Number(fields[1]) };
  } catch {
    return undefined;
  }
}

function alive(pid: number): boolean {
  const state = procStat(pid)?.state;
  return state !== undefined && state !== 'Z';
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => resolve(true)).once('error', () => resolve(false));
    socket.once('close', () => socket.destroy());
  });
}
