// The pg-llm-proxy command as a user runs it: --help, bad options, graceful shutdown on SIGTERM, and the embedded
// PostgreSQL when no upstream is wanted.

import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { freePort } from '../support/cluster.js';
import { launch, listening, MAIN, type Running } from '../support/command.js';
import { startFakeProvider } from '../support/fake-provider.js';
import { cluster, connection } from '../support/proxy.js';
import { psql } from '../support/psql.js';

describe('pg-llm-proxy command', () => {
  it('--help documents the options and exits 0', async () => {
    const running = launch(['--help']);
    expect(await running.exited).toBe(0);
    expect(running.output()).toMatch(/--listen HOST:PORT/);
    expect(running.output()).toMatch(/PG_LLM_UPSTREAM/);
  });

  it("the container's entry point starts only with an upstream or the embedded server named, not by fallback", async () => {
    const entryPoint = path.join(path.dirname(MAIN), '..', '..', 'scripts', 'docker-entrypoint.sh');
    const unset = { PG_LLM_UPSTREAM: undefined, PG_LLM_CONFIG: undefined, PG_LLM_EMBEDDED: undefined };
    const refused = launch([], unset, entryPoint);
    expect(await refused.exited).toBe(2);
    expect(refused.output()).toMatch(/^pg-llm-proxy: no upstream: set PG_LLM_UPSTREAM=.*PG_LLM_EMBEDDED=always/);
    expect(await launch(['--help'], unset, entryPoint).exited).toBe(0);
    const upstream = `postgres://127.0.0.1:${cluster().port}/?sslmode=disable`;
    const started = launch(['--listen', `127.0.0.1:${await freePort()}`, '--admin', 'off'], { ...unset, PG_LLM_UPSTREAM: upstream }, entryPoint);
    await listening(started);
    started.child.kill('SIGTERM');
    expect(await started.exited).toBe(0);
  });

  it('an unknown option exits 2 with a clear message', async () => {
    const running = launch(['--frobnicate']);
    expect(await running.exited).toBe(2);
    expect(running.output()).toMatch(/unknown argument --frobnicate/);
  });

  it('a port in use, for clients or the admin server, is one line naming the address and exit 2', async () => {
    const taken = net.createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const address = `127.0.0.1:${(taken.address() as net.AddressInfo).port}`;
    try {
      const upstream = ['--upstream', `postgres://127.0.0.1:${cluster().port}/?sslmode=disable`];
      for (const args of [['--listen', address, '--admin', 'off'], ['--listen', `127.0.0.1:${await freePort()}`, '--admin', address]]) {
        const running = launch([...args, ...upstream, '--log-level', 'warn']);
        expect(await running.exited).toBe(2);
        expect(running.output()).toBe(`pg-llm-proxy: cannot listen on ${address}: the address is already in use\n`);
      }
    } finally {
      taken.close();
    }
  });

  it('--log-format: JSON lines when standard error is no terminal, pretty lines when asked or at a terminal', async () => {
    const args = async (): Promise<string[]> => ['--listen', `127.0.0.1:${await freePort()}`, '--admin', 'off', '--upstream', `postgres://127.0.0.1:${cluster().port}`];
    const pretty = /^\[\d\d:\d\d:\d\d\.\d{3}\] (\S+)?INFO(\S+)?: (\S+)?proxy listening/m;
    for (const [running, format] of [
      [launch(await args()), 'json'],
      [launch([...(await args()), '--log-format', 'pretty']), 'pretty'],
      [launch(['--log-format=json', ...(await args())], { PG_LLM_LOG_FORMAT: 'pretty' }), 'json'],
      // script(1) runs the command at a terminal of its own.
      [launch(['-qfec', [process.execPath, MAIN, ...(await args())].join(' '), '/dev/null'], {}, 'script'), 'pretty'],
    ] as const) {
      await listening(running);
      running.child.kill('SIGTERM');
      await running.exited;
      if (format === 'json') expect(running.output()).toMatch(/^\{"level":30,.*"msg":"proxy listening"\}$/m);
      else expect(running.output()).toMatch(pretty);
    }
    const wrong = launch(['--log-format', 'xml']);
    expect(await wrong.exited).toBe(2);
    expect(wrong.output()).toBe('pg-llm-proxy: --log-format must be json or pretty, got xml\n');
  });

  it('SIGTERM lets a running query finish, then closes the session with 57P01 and exits 0', async () => {
    const port = await freePort();
    const running = launch([
      '--listen',
      `127.0.0.1:${port}`,
      '--upstream',
      `postgres://127.0.0.1:${cluster().port}/?sslmode=disable`,
      '--admin',
      'off',
      '--shutdown-timeout',
      '10000',
    ]);
    await listening(running);
    const busy = new pg.Client(connection(port));
    const idle = new pg.Client(connection(port));
    await busy.connect();
    await idle.connect();
    const idleClosed = new Promise<Error & { code?: string }>((resolve) => idle.on('error', resolve));
    const busyClosed = new Promise<Error & { code?: string }>((resolve) => busy.on('error', resolve));
    const query = busy.query('SELECT pg_sleep(1.5), 7 AS answer');
    await new Promise((resolve) => setTimeout(resolve, 300));
    running.child.kill('SIGTERM');
    expect((await idleClosed).code).toBe('57P01');
    expect((await query).rows[0].answer).toBe(7);
    expect((await busyClosed).code).toBe('57P01');
    expect(await running.exited).toBe(0);
    expect(running.output()).toMatch(/shutting down: waiting for running queries/);
  });

  it('--shutdown-timeout ends a query that runs too long', async () => {
    const port = await freePort();
    const running = launch(['--listen', `127.0.0.1:${port}`, '--upstream', `postgres://127.0.0.1:${cluster().port}`, '--admin', 'off', '--shutdown-timeout', '300']);
    await listening(running);
    const client = new pg.Client(connection(port));
    await client.connect();
    client.on('error', () => {});
    const query = client.query('SELECT pg_sleep(30)').catch((error: { code?: string }) => error.code);
    await new Promise((resolve) => setTimeout(resolve, 200));
    running.child.kill('SIGINT');
    expect(await query).toBe('57P01');
    expect(await running.exited).toBe(0);
  });

  it('--embedded always serves from the embedded PostgreSQL with no PostgreSQL configured, and removes it at stop', async () => {
    const port = await freePort();
    const running = launch(['--listen', `127.0.0.1:${port}`, '--admin', 'off', '--embedded', 'always', '--embedded-data', 'memory']);
    await listening(running);
    expect(running.output()).toMatch(/started the embedded PostgreSQL/);
    const result = await psql(['-c', 'SELECT 20 + 22'], { port, password: password(running) });
    expect(result.stdout.trim()).toBe('42');
    running.child.kill('SIGTERM');
    expect(await running.exited).toBe(0);
    expect(existsSync(privateDir(running))).toBe(false);
  }, 60_000);

  it('lets in only who gives the password of the file it names at start, and never logs the password', async () => {
    const port = await freePort();
    const running = launch(['--listen', `127.0.0.1:${port}`, '--admin', 'off', '--embedded', 'always', '--embedded-data', 'memory', '--log-level', 'debug']);
    await listening(running);
    const made = password(running);
    const refused = await psql(['-c', 'SELECT 1'], { port, password: 'not the password' });
    expect(refused.stderr).toMatch(/password authentication failed for user "postgres"/);
    expect((await psql(['-c', 'SELECT current_user'], { port, password: made })).stdout.trim()).toBe('postgres');
    running.child.kill('SIGTERM');
    expect(await running.exited).toBe(0);
    expect(running.output()).toMatch(/"msg":"embedded PostgreSQL"/); // the server's own log lines, at debug, are there
    expect(running.output()).not.toContain(made);
  }, 60_000);

  it('PG_LLM_EMBEDDED_PASSWORD chooses the password, never logged either', async () => {
    const port = await freePort();
    const chosen = 'the operator’s own choice';
    const args = ['--listen', `127.0.0.1:${port}`, '--admin', 'off', '--embedded', 'always', '--embedded-data', 'memory', '--log-level', 'debug'];
    const running = launch(args, { PG_LLM_EMBEDDED_PASSWORD: chosen });
    await listening(running);
    expect((await psql(['-c', 'SELECT 42'], { port, password: chosen })).stdout.trim()).toBe('42');
    expect((await psql(['-c', 'SELECT 42'], { port, password: 'another' })).stderr).toMatch(/password authentication failed/);
    running.child.kill('SIGTERM');
    expect(await running.exited).toBe(0);
    expect(running.output()).not.toContain(chosen);
  }, 60_000);

  it('with no master key configured, makes one for the embedded data and keeps it, so a model key survives a restart', async () => {
    const parent = mkdtempSync(path.join(os.tmpdir(), 'pg-llm-dev-key-'));
    chmodSync(parent, 0o755); // reachable by the server's user when the tests run as root
    const fake = await startFakeProvider();
    const start = async () => {
      const port = await freePort();
      const args = ['--listen', `127.0.0.1:${port}`, '--admin', 'off', '--embedded', 'always', '--embedded-data', path.join(parent, 'data')];
      const running = launch(args, { PG_LLM_MASTER_KEY: undefined, PG_LLM_MASTER_KEY_FILE: undefined });
      await listening(running, 90_000);
      return { running, port };
    };
    const chat = (port: number, running: Running, sql: string) => psql(['-c', sql], { port, password: password(running) });
    try {
      const first = await start();
      expect((await chat(first.port, first.running, 'CREATE EXTENSION pg_llm')).stderr).toBe('');
      const registered = await chat(first.port, first.running, `SELECT pg_llm_add_model(false, 'openai', 'llm', 'sk-dev-key', '{"base_url": "${fake.baseUrl}"}')`);
      expect(registered.stderr).toBe('');
      expect(first.running.output()).toMatch(/made a master key for the model secrets of the embedded PostgreSQL/);
      const file = statSync(path.join(parent, 'data.master-key'));
      expect([file.mode & 0o777, file.uid]).toEqual([0o600, process.getuid!()]);
      first.running.child.kill('SIGTERM');
      expect(await first.running.exited).toBe(0);

      const second = await start();
      expect(second.running.output()).not.toMatch(/made a master key/);
      fake.script({ kind: 'answer', content: 'still opens' });
      expect((await chat(second.port, second.running, `SELECT pg_llm_chat('llm', 'hi')`)).stdout.trim()).toBe('still opens');
      expect(fake.requests.at(-1)!.authorization).toBe('Bearer sk-dev-key');
      expect(first.running.output() + second.running.output()).not.toContain(readFileSync(path.join(parent, 'data.master-key'), 'utf8').trim());
      second.running.child.kill('SIGTERM');
      expect(await second.running.exited).toBe(0);
    } finally {
      await fake.close();
      rmSync(parent, { recursive: true, force: true });
    }
  }, 240_000);

  it('does not leave the embedded PostgreSQL running when the proxy is killed', async () => {
    const port = await freePort();
    const running = launch(['--listen', `127.0.0.1:${port}`, '--admin', 'off', '--embedded', 'always', '--embedded-data', 'memory']);
    await listening(running);
    expect(existsSync(privateDir(running))).toBe(true);
    running.child.kill('SIGKILL');
    await expect.poll(() => existsSync(privateDir(running)), { timeout: 20_000 }).toBe(false);
  }, 60_000);
});

/** The embedded server's private directory, named in the log line that says it started. */
function privateDir(running: Running): string {
  return path.dirname(/"at":"([^"]+)"/.exec(running.output())![1]!);
}

/** The password of the embedded server's `postgres`, in the file the log line that says it started names. */
function password(running: Running): string {
  const file = /"password_file":"([^"]+)"/.exec(running.output())![1]!;
  return readFileSync(file, 'utf8').trim();
}
