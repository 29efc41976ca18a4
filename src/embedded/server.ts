// The embedded upstream: a real PostgreSQL server that the proxy starts when no upstream is configured, so it runs
// on a machine with no PostgreSQL; several clients at once, each with its own session, as with any PostgreSQL. The
// server opens no TCP port: it listens only on a Unix socket in a private directory (mode 0700, owned by the user
// the server runs as), so nothing reaches it but through the proxy, and every login needs a password (password.ts).

import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { promisify } from 'node:util';
import type { Logger } from 'pino';
import type { UpstreamTarget } from '../../proxy/upstream.js';
import { installedBinaries, reachableBinaries } from './binaries.js';
import { EmbeddedServerError } from './error.js';
import { passwordFile, refuseForeignPassword, requirePassword } from './password.js';
import { serverUser, type ServerUser } from './server-user.js';

export interface EmbeddedUpstream {
  target: UpstreamTarget;
  /** Holds the password of the superuser `postgres`, readable by this process's user only. */
  passwordFile: string;
  stop(): Promise<void>;
}

export interface EmbeddedOptions {
  /** Kept across restarts; without one, the data lives in a temporary directory removed at stop. */
  dataDir?: string;
  /** The password of `postgres` (--embedded-password); without it, the one kept beside the data, or a new one. */
  password?: string;
  connectTimeoutMs?: number;
  log?: Logger;
}

/** Only names the socket file, .s.PGSQL.5432: the server opens no TCP port. */
const SOCKET_PORT = 5432;
const READY_POLL_MS = 20;
const LOG_TAIL_LINES = 20;

/**
 * Runs the server (the arguments after the private directory) until this shell's standard input ends, which
 * happens when the proxy stops it or dies however it dies: then asks the server for a fast shutdown, waits for it
 * and removes the private directory. So the server never outlives the proxy, which PostgreSQL alone cannot tell.
 */
const SUPERVISOR = `
private_dir=$1; shift
exec 3<&0 </dev/null
"$@" 3<&- &
server=$!
{ read -r line <&3; kill -INT "$server" 2>/dev/null; } &
watcher=$!
exec 3<&-
wait "$server"; status=$?
kill "$watcher" 2>/dev/null
rm -rf "$private_dir"
exit "$status"
`;

export async function startEmbeddedUpstream({ dataDir, password, connectTimeoutMs = 10_000, log }: EmbeddedOptions = {}): Promise<EmbeddedUpstream> {
  const installed = await installedBinaries();
  const user = serverUser();
  const privateDir = mkdtempSync(path.join(os.tmpdir(), 'pg-llm-embedded-'));
  try {
    if (user) chownSync(privateDir, user.uid, user.gid);
    const binaries = reachableBinaries(installed, user, privateDir);
    const data = dataDir ? path.resolve(dataDir) : path.join(privateDir, 'data');
    if (!existsSync(path.join(data, 'PG_VERSION'))) {
      refuseForeignPassword(data, password);
      await initialise(binaries.initdb, data, user, privateDir, dataDir !== undefined);
    }
    await requirePassword({ postgres: binaries.postgres, dataDir: data, chosen: password, user, cwd: privateDir });
    const server = spawn('/bin/sh', ['-c', SUPERVISOR, 'pg-llm-embedded', privateDir, binaries.postgres, ...serverArguments(data, privateDir, dataDir !== undefined)], {
      uid: user?.uid,
      gid: user?.gid,
      cwd: privateDir,
      // its own process group: a terminal's Ctrl-C reaches the proxy alone, which lets queries finish first
      detached: true,
      stdio: ['pipe', 'ignore', 'pipe'],
    });
    server.stdin!.on('error', () => {});
    const tail = serverLog(server, log);
    const closed = new Promise<void>((resolve) => server.once('close', () => resolve()));
    await ready(server, data, privateDir, tail);
    let stopping = false;
    server.once('close', (code, signal) => {
      if (!stopping) log?.error({ code, signal, server_log: tail.join('\n') }, 'the embedded PostgreSQL stopped unexpectedly');
    });
    return {
      target: { host: 'localhost', port: SOCKET_PORT, socketDir: privateDir, sslMode: 'disable', connectTimeoutMs },
      passwordFile: passwordFile(data),
      async stop() {
        stopping = true;
        server.stdin!.end();
        await closed;
      },
    };
  } catch (error) {
    rmSync(privateDir, { recursive: true, force: true });
    throw error;
  }
}

/**
 * Creates the cluster: superuser `postgres`, no network logins, and trusted on the socket only until
 * requirePassword(), before the server first starts, asks for a password there as it does of the clusters created
 * trusted by earlier versions.
 */
async function initialise(initdb: string, dataDir: string, user: ServerUser | undefined, cwd: string, durable: boolean): Promise<void> {
  mkdirSync(dataDir, { recursive: true }); // initdb gives it mode 0700
  if (user) chownSync(dataDir, user.uid, user.gid);
  const args = ['-D', dataDir, '-U', 'postgres', '--auth-local=trust', '--auth-host=reject', '-E', 'UTF8', '--locale=C'];
  args.push('--locale-provider=builtin', '--builtin-locale=C.UTF-8', '--no-instructions', ...(durable ? [] : ['--no-sync']));
  await promisify(execFile)(initdb, args, { uid: user?.uid, gid: user?.gid, cwd }).catch((error: Error & { stderr?: string }) => {
    throw new EmbeddedServerError(`initdb could not create the embedded database in ${dataDir}: ${(error.stderr || error.message).trim()}`);
  });
}

function serverArguments(dataDir: string, privateDir: string, durable: boolean): string[] {
  const settings: Record<string, string> = {
    listen_addresses: '',
    unix_socket_directories: privateDir,
    unix_socket_permissions: '0700',
    // the server's own events and FATAL/PANIC only: clients' errors and statements may hold their secrets
    log_min_messages: 'log',
    log_min_error_statement: 'panic',
  };
  if (!durable) settings.fsync = 'off';
  return ['-D', dataDir, '-p', String(SOCKET_PORT), ...Object.entries(settings).flatMap(([name, value]) => ['-c', `${name}=${value}`])];
}

/** Passes the server's log lines to the proxy's log (debug); returns its last lines, to tell why it stopped. */
function serverLog(server: ChildProcess, log: Logger | undefined): string[] {
  const tail: string[] = [];
  readline.createInterface({ input: server.stderr! }).on('line', (line) => {
    log?.debug({ line }, 'embedded PostgreSQL');
    tail.push(line);
    if (tail.length > LOG_TAIL_LINES) tail.shift();
  });
  return tail;
}

/** Resolves once the server accepts connections, by pg_ctl's test: the status line of the postmaster.pid it wrote. */
function ready(server: ChildProcess, dataDir: string, privateDir: string, tail: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined;
    const stopped = (code: number | null): void => {
      clearTimeout(timer);
      reject(new EmbeddedServerError(`the embedded PostgreSQL (data directory ${dataDir}) stopped while starting, exit status ${code}:\n${tail.join('\n')}`));
    };
    server.once('close', stopped);
    server.once('error', (error) => reject(new EmbeddedServerError(`the embedded PostgreSQL could not be started: ${error.message}`)));
    const poll = (): void => {
      if (!acceptsConnections(dataDir, privateDir)) return void (timer = setTimeout(poll, READY_POLL_MS));
      server.off('close', stopped);
      resolve();
    };
    poll();
  });
}

/** Lines 5 and 8 of postmaster.pid: its socket directory (so a file left by an earlier run never counts) and status. */
function acceptsConnections(dataDir: string, privateDir: string): boolean {
  try {
    const lines = readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n');
    return lines[4] === privateDir && lines[7]?.trim() === 'ready';
  } catch {
    return false;
  }
}
