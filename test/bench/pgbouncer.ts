// PgBouncer in session mode in front of the benchmark's PostgreSQL: the reference the proxy's pass-through cost is
// measured against (what a mature C proxy costs per transaction on the same machine, in the same run). Installed
// with apt-get when it is missing and the benchmark may install packages; otherwise, or if it will not start, the
// benchmark runs without it.

import { accessSync, chownSync, constants, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import type { Cluster } from '../support/cluster.js';
import { freePort } from '../support/cluster.js';
import { launch, type ServerProcess } from '../support/server-process.js';

// Not on a non-root user's PATH on Debian, where the package installs it.
const PGBOUNCER_SYSTEM_PATH = '/usr/sbin/pgbouncer';
// In session mode each client holds one server connection: a pool as large as the client limit means no pgbench
// client ever waits for one, so pgbouncer is measured at its best, as the proxy (one upstream per client) is.
export const PGBOUNCER_POOL_SIZE = 100;
const PGBOUNCER_MAX_CLIENT_CONN = 100;

export interface Reference {
  server: ServerProcess;
  /** As pgbouncer --version prints it, e.g. "PgBouncer 1.18.0". */
  version: string;
}

/**
 * pgbouncer in session mode in front of the cluster, or undefined when it cannot be had or will not start: it is
 * a reference, so its absence or failure costs the report its columns, never the run.
 */
export async function startReferencePgbouncer(cluster: Cluster, print: (line: string) => void): Promise<Reference | undefined> {
  const binary = findPgbouncer() ?? installPgbouncer(print);
  if (!binary) return undefined;
  const version = pgbouncerVersion(binary);
  const port = await freePort();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'pg-llm-bench-pgbouncer-'));
  const removeDir = (): void => rmSync(dir, { recursive: true, force: true });
  try {
    const owner = pgbouncerOwner();
    const configFile = writePgbouncerFiles(dir, cluster, port, owner);
    print(`starting ${version} on 127.0.0.1:${port} (session mode)…`);
    const server = await launch({ label: 'pgbouncer', command: binary, args: [configFile], port, options: { ...owner, cwd: dir } });
    return {
      version,
      server: {
        ...server,
        stop: async () => {
          await server.stop();
          removeDir();
        },
        killNow: () => {
          server.killNow();
          removeDir();
        },
      },
    };
  } catch (error) {
    removeDir();
    print(`pgbouncer did not start, skipping its columns: ${(error instanceof Error ? error.message : String(error)).trimEnd()}`);
    return undefined;
  }
}

function findPgbouncer(): string | undefined {
  const onPath = (process.env.PATH ?? '').split(path.delimiter).filter((dir) => dir !== '').map((dir) => path.join(dir, 'pgbouncer'));
  return [...onPath, PGBOUNCER_SYSTEM_PATH].find(isExecutableFile);
}

/**
 * The Debian package, as the benchmark's machine (a root container with apt) has PostgreSQL's. Only the binary is
 * used: the package's own service is not started in a container without an init system, and is not needed.
 */
function installPgbouncer(print: (line: string) => void): string | undefined {
  const aptGet = ['/usr/bin/apt-get', '/bin/apt-get'].find(isExecutableFile);
  if (process.getuid?.() !== 0 || !aptGet) {
    print(`pgbouncer not found (PATH, ${PGBOUNCER_SYSTEM_PATH}) and cannot be installed here: skipping its columns; install the Debian package pgbouncer to get them`);
    return undefined;
  }
  print('pgbouncer not found: installing the Debian package (apt-get install -y pgbouncer)…');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  let result = spawnSync(aptGet, ['install', '-y', '-q', 'pgbouncer'], { encoding: 'utf8', env });
  // A fresh container has no package lists yet.
  if (result.status !== 0) {
    spawnSync(aptGet, ['update', '-q'], { encoding: 'utf8', env });
    result = spawnSync(aptGet, ['install', '-y', '-q', 'pgbouncer'], { encoding: 'utf8', env });
  }
  const binary = findPgbouncer();
  if (!binary) print(`could not install pgbouncer, skipping its columns:\n${(result.stderr || result.stdout || String(result.error)).trimEnd()}`);
  return binary;
}

function isExecutableFile(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return statSync(file).isFile();
  } catch {
    return false;
  }
}

function pgbouncerVersion(binary: string): string {
  const firstLine = spawnSync(binary, ['--version'], { encoding: 'utf8' }).stdout?.split('\n')[0]?.trim();
  return firstLine || 'pgbouncer';
}

/** pgbouncer refuses to run as root, so under root it runs as `postgres`, like the cluster's server. */
function pgbouncerOwner(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const uid = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' });
  const gid = spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' });
  if (uid.status !== 0 || gid.status !== 0) throw new Error('running as root, but there is no postgres user to run pgbouncer as');
  return { uid: Number(uid.stdout), gid: Number(gid.stdout) };
}

/** Writes pgbouncer.ini and its auth file into dir, owned by the user pgbouncer runs as; returns the ini's path. */
function writePgbouncerFiles(dir: string, cluster: Cluster, port: number, owner: { uid: number; gid: number } | undefined): string {
  const configFile = path.join(dir, 'pgbouncer.ini');
  const authFile = path.join(dir, 'userlist.txt');
  const config = [
    '[databases]',
    `postgres = host=127.0.0.1 port=${cluster.port} dbname=postgres`,
    '',
    '[pgbouncer]',
    'listen_addr = 127.0.0.1',
    `listen_port = ${port}`,
    // No Unix socket: every target is measured over TCP, and a socket in /tmp could clash with another instance.
    'unix_socket_dir =',
    'pool_mode = session',
    // trust still requires the user to be listed in auth_file; the cluster trusts postgres on 127.0.0.1 in turn.
    'auth_type = trust',
    `auth_file = ${authFile}`,
    `max_client_conn = ${PGBOUNCER_MAX_CLIENT_CONN}`,
    `default_pool_size = ${PGBOUNCER_POOL_SIZE}`,
    // Plain TCP upstream whatever the version's default, as the proxy is started with sslmode=disable.
    'server_tls_sslmode = disable',
    // Quiet like the proxy at --log-level warn: no line per connection.
    'log_connections = 0',
    'log_disconnections = 0',
    `logfile = ${path.join(dir, 'pgbouncer.log')}`,
    '',
  ].join('\n');
  writeFileSync(configFile, config);
  writeFileSync(authFile, '"postgres" ""\n');
  if (owner) {
    // The log file is created by pgbouncer itself, so the directory must be writable by it, not only readable.
    for (const file of [dir, configFile, authFile]) chownSync(file, owner.uid, owner.gid);
  }
  return configFile;
}
