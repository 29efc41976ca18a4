// The proxy's Unix-domain socket, DIR/.s.PGSQL.PORT as PostgreSQL names its own: psql and postgres.js connect through
// it with the same authentication relay and LLM functions as over TCP, and the path is claimed with a lock file as
// PostgreSQL claims it: a crashed proxy's leftovers are cleared, another live server's path is refused.

import { execFileSync, spawn } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import postgres from 'postgres';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort, ROLES } from '../support/cluster.js';
import { exitWithin, launch, listening } from '../support/command.js';
import { freshDatabase } from '../support/database.js';
import { cluster, startProxy } from '../support/proxy.js';
import { psql } from '../support/psql.js';

const directories: string[] = [];
afterEach(() => {
  for (const dir of directories.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function socketDir(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'pg-llm-sock-'));
  directories.push(dir);
  return dir;
}

function socketFile(dir: string, port: number): string {
  return path.join(dir, `.s.PGSQL.${port}`);
}

describe('clients on the Unix socket', () => {
  it('reach the upstream as over TCP: psql with -h DIR logs in with SCRAM, and the files go on shutdown', async () => {
    const dir = socketDir();
    const proxy = await startProxy({ socketDir: dir });
    const socket = socketFile(dir, proxy.port);
    try {
      expect(statSync(socket).isSocket()).toBe(true);
      expect(statSync(socket).mode & 0o777).toBe(0o777);
      expect(readFileSync(`${socket}.lock`, 'utf8')).toBe(`${process.pid}\n`);

      const { user, password } = ROLES.scram;
      const ok = await psql(['-h', dir, '-c', 'SELECT current_user'], { port: proxy.port, user, password });
      expect(ok.stderr).toBe('');
      expect(ok.stdout.trim()).toBe(user);
      const wrong = await psql(['-h', dir, '-c', 'SELECT 1'], { port: proxy.port, user, password: 'not it' });
      expect(wrong.status).not.toBe(0);
      expect(wrong.stderr).toMatch(/password authentication failed for user "scram_user"/);
    } finally {
      await proxy.stop();
    }
    expect(existsSync(socket)).toBe(false);
    expect(existsSync(`${socket}.lock`)).toBe(false);
  });

  it('serve postgres.js by host directory and by path, an authenticated role calling an LLM function', async () => {
    const { name } = await freshDatabase();
    const dir = socketDir();
    const proxy = await startProxy({ socketDir: dir });
    try {
      const owner = postgres({ host: dir, port: proxy.port, user: 'postgres', database: name, max: 1, onnotice: () => {} });
      await owner`CREATE EXTENSION pg_llm`;
      await owner.end();
      const { user, password } = ROLES.scram;
      const sql = postgres({ path: socketFile(dir, proxy.port), user, password, database: name, max: 1, onnotice: () => {} });
      try {
        await sql`SELECT pg_llm_add_model(false, 'mock', 'm', NULL, '{"mock_response": "Hello!"}')`;
        const rows = await sql`SELECT pg_llm_chat('m', ${'Say hello'}) AS answer, current_user AS role`;
        expect([...rows]).toEqual([{ answer: 'Hello!', role: user }]);
      } finally {
        await sql.end();
      }
    } finally {
      await proxy.stop();
    }
  });

  it('are not offered TLS, even by a proxy with a certificate, as PostgreSQL offers none there', async () => {
    const dir = socketDir();
    const proxy = await startProxy({ socketDir: dir, tls: true });
    try {
      const sslRequest = Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]);
      const answerOn = async (socket: net.Socket): Promise<string> => {
        socket.write(sslRequest);
        const [answer] = (await once(socket, 'data')) as [Buffer];
        socket.destroy();
        return answer.toString();
      };
      expect(await answerOn(net.connect(socketFile(dir, proxy.port)))).toBe('N');
      expect(await answerOn(net.connect({ host: '127.0.0.1', port: proxy.port }))).toBe('S');
    } finally {
      await proxy.stop();
    }
  });
});

describe('claiming the socket path', () => {
  it("clears a crashed proxy's socket and lock file, and a stopped one removes both", async () => {
    const dir = socketDir();
    const port = await freePort();
    const socket = socketFile(dir, port);
    const args = ['--listen', `127.0.0.1:${port}`, '--socket-dir', dir, '--upstream', `postgres://127.0.0.1:${cluster().port}`, '--admin', 'off'];
    const crashed = launch(args);
    await listening(crashed);
    crashed.child.kill('SIGKILL');
    await crashed.exited;
    expect(existsSync(socket) && existsSync(`${socket}.lock`)).toBe(true);

    const restarted = launch(args);
    try {
      await listening(restarted);
      const through = await psql(['-h', dir, '-c', 'SELECT 42'], { port });
      expect(through.stderr).toBe('');
      expect(through.stdout.trim()).toBe('42');
      expect(readFileSync(`${socket}.lock`, 'utf8')).toBe(`${restarted.child.pid}\n`);
      expect(statSync(`${socket}.lock`).mode & 0o777).toBe(0o600);
    } finally {
      restarted.child.kill('SIGTERM');
    }
    expect(await restarted.exited).toBe(0);
    expect(existsSync(socket)).toBe(false);
    expect(existsSync(`${socket}.lock`)).toBe(false);
  });

  it('refuses a path whose lock names a live process, and takes it once that process is gone', async () => {
    const dir = socketDir();
    const port = await freePort();
    const lock = `${socketFile(dir, port)}.lock`;
    const holder = spawn('sleep', ['60']);
    const holderGone = new Promise((resolve) => holder.once('exit', resolve));
    try {
      writeFileSync(lock, `${holder.pid}\n`);
      await expect(startProxy({ port, socketDir: dir })).rejects.toThrow(`lock file "${lock}" is held by process ${holder.pid}`);
      expect(readFileSync(lock, 'utf8')).toBe(`${holder.pid}\n`);
      expect(existsSync(socketFile(dir, port))).toBe(false);
    } finally {
      holder.kill();
    }
    await holderGone;
    const proxy = await startProxy({ port, socketDir: dir });
    try {
      expect(readFileSync(lock, 'utf8')).toBe(`${process.pid}\n`);
      expect((await psql(['-h', dir, '-c', 'SELECT 1'], { port })).stdout.trim()).toBe('1');
    } finally {
      await proxy.stop();
    }
  });

  it('refuses a lock file that is not a regular file, such as a FIFO any local user may leave in /tmp', async () => {
    const dir = socketDir();
    const port = await freePort();
    const lock = `${socketFile(dir, port)}.lock`;
    execFileSync('mkfifo', [lock]);
    const running = launch(['--listen', `127.0.0.1:${port}`, '--socket-dir', dir, '--upstream', `postgres://127.0.0.1:${cluster().port}`, '--admin', 'off']);
    try {
      // Reading the FIFO would block the proxy for ever, silently.
      expect(await exitWithin(running, 20_000)).toBe(2);
      expect(running.output()).toContain(`lock file "${lock}" is not a regular file`);
      expect(lstatSync(lock).isFIFO()).toBe(true);
    } finally {
      running.child.kill('SIGKILL');
    }
  });

  it('in the default directory, a path it cannot claim is warned about, and the proxy serves on TCP alone', async () => {
    const port = await freePort();
    const lock = `${socketFile('/tmp', port)}.lock`;
    execFileSync('mkfifo', [lock]);
    const args = ['--listen', `127.0.0.1:${port}`, '--upstream', `postgres://127.0.0.1:${cluster().port}`, '--admin', 'off'];
    const running = launch(args, { PG_LLM_SOCKET_DIR: undefined });
    try {
      await listening(running);
      expect(running.output()).toMatch(/"level":40,.*is not a regular file.*"msg":"not listening on a Unix socket"/);
      expect((await psql(['-c', 'SELECT 42'], { port })).stdout.trim()).toBe('42');
      running.child.kill('SIGTERM');
      expect(await running.exited).toBe(0);
      expect(lstatSync(lock).isFIFO()).toBe(true);
    } finally {
      running.child.kill('SIGKILL');
      rmSync(lock, { force: true });
    }
  });

  it("leaves a running PostgreSQL's socket alone", async () => {
    const { socketDir: dir, port } = cluster();
    // Another loopback address, so that the TCP port is free and only the socket path is shared.
    await expect(startProxy({ host: '127.0.0.2', port, socketDir: dir })).rejects.toThrow(/is held by process \d+: another pg-llm-proxy or a PostgreSQL server/);
    const direct = await psql(['-h', dir, '-c', 'SELECT 1'], { port });
    expect(direct.stdout.trim()).toBe('1');
  });

  it('leaves alone a socket something answers on without a lock file, as PgBouncer keeps none', async () => {
    const dir = socketDir();
    const port = await freePort();
    const other = net.createServer((socket) => socket.end());
    await new Promise<void>((resolve) => other.listen(socketFile(dir, port), resolve));
    try {
      await expect(startProxy({ port, socketDir: dir })).rejects.toThrow(`a server is already listening on "${socketFile(dir, port)}"`);
      expect(existsSync(`${socketFile(dir, port)}.lock`)).toBe(false);
      const stillThere = net.connect(socketFile(dir, port));
      await new Promise<void>((resolve, reject) => stillThere.once('connect', resolve).once('error', reject));
      stillThere.destroy();
    } finally {
      await new Promise((resolve) => other.close(resolve));
    }
  });

  it('says why a directory cannot hold the socket: missing, or a path over 107 bytes', async () => {
    const missing = path.join(socketDir(), 'missing');
    await expect(startProxy({ socketDir: missing })).rejects.toThrow(`Unix socket directory "${missing}" cannot be used: ENOENT`);
    const deep = path.join(socketDir(), 'd'.repeat(100));
    mkdirSync(deep);
    await expect(startProxy({ socketDir: deep })).rejects.toThrow(/bytes long, longer than the 107 the system allows/);
  });
});
