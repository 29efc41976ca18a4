// A throwaway PostgreSQL cluster for tests and benchmarks: initdb + pg_ctl in a temp dir on a free port, with TLS
// (its own CA), and one role per authentication method under test. Runs the server as the `postgres` OS user when
// started by root, as PostgreSQL refuses to run as root.

import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { chownTree, serverUser } from '../../src/embedded/server-user.js';

export interface ClusterInfo {
  host: string;
  port: number;
  /** Directory of the server's Unix socket. */
  socketDir: string;
  dataDir: string;
  /** PEM file of the CA that signed the server's (and the proxy test) certificates. */
  caFile: string;
  /** A certificate and key for localhost/127.0.0.1 signed by that CA, for the proxy's own TLS. */
  certFile: string;
  keyFile: string;
}

export interface Cluster extends ClusterInfo {
  stop(): void;
}

/** Roles created in every test cluster, one per authentication method in pg_hba.conf. */
export const ROLES = {
  trust: { user: 'trust_user', password: '' },
  password: { user: 'password_user', password: 'cleartext secret' },
  md5: { user: 'md5_user', password: 'md5 secret' },
  scram: { user: 'scram_user', password: 'scram secret' },
} as const;

export interface ClusterOptions {
  /** The server's bin directory; by default serverBinDir()'s. */
  binDir?: string;
  maxConnections?: number;
  /** Extra postgresql.conf lines. */
  settings?: string[];
}

export async function startCluster(options: ClusterOptions = {}): Promise<Cluster> {
  const bin = options.binDir ?? serverBinDir();
  const root = mkdtempSync(path.join(os.tmpdir(), 'pg-llm-test-'));
  const dataDir = path.join(root, 'data');
  const owner = serverUser();
  const run = (command: string, args: string[]): string => {
    const result = spawnSync(path.join(bin, command), args, { uid: owner?.uid, gid: owner?.gid, encoding: 'utf8', cwd: root });
    if (result.status !== 0) throw new Error(`${command} failed: ${result.stderr || result.stdout || result.error}`);
    return result.stdout;
  };
  const certs = makeCertificates(root);
  if (owner) chownTree(root, owner);
  chmodSync(root, 0o755);

  run('initdb', ['-D', dataDir, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--locale=C', '--no-sync', '--no-instructions']);
  const port = await freePort();
  writeFileSync(
    path.join(dataDir, 'postgresql.auto.conf'),
    [
      `port = ${port}`,
      `listen_addresses = '127.0.0.1'`,
      `unix_socket_directories = '${root}'`,
      `max_connections = ${options.maxConnections ?? 300}`,
      `ssl = on`,
      `ssl_cert_file = '${certs.serverCert}'`,
      `ssl_key_file = '${certs.serverKey}'`,
      `fsync = off`,
      `synchronous_commit = off`,
      `full_page_writes = off`,
      `shared_buffers = '64MB'`,
      `password_encryption = 'scram-sha-256'`,
      ...(options.settings ?? []),
      '',
    ].join('\n'),
  );
  writeFileSync(
    path.join(dataDir, 'pg_hba.conf'),
    [
      'local all all trust',
      'host all postgres 127.0.0.1/32 trust',
      `host all ${ROLES.trust.user} 127.0.0.1/32 trust`,
      `host all ${ROLES.password.user} 127.0.0.1/32 password`,
      `host all ${ROLES.md5.user} 127.0.0.1/32 md5`,
      `host all ${ROLES.scram.user} 127.0.0.1/32 scram-sha-256`,
      'host all all 127.0.0.1/32 scram-sha-256',
      '',
    ].join('\n'),
  );
  if (owner) chownTree(root, owner);
  run('pg_ctl', ['-D', dataDir, '-l', path.join(root, 'server.log'), '-w', '-t', '60', 'start']);

  const psql = (sql: string): void => {
    execFileSync(path.join(bin, 'psql'), ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-h', root, '-p', String(port), '-U', 'postgres', '-d', 'postgres', '-c', sql]);
  };
  psql(`CREATE ROLE ${ROLES.trust.user} LOGIN`);
  psql(`CREATE ROLE ${ROLES.password.user} LOGIN PASSWORD '${ROLES.password.password}'`);
  psql(`SET password_encryption = 'md5'; CREATE ROLE ${ROLES.md5.user} LOGIN PASSWORD '${ROLES.md5.password}'`);
  psql(`CREATE ROLE ${ROLES.scram.user} LOGIN PASSWORD '${ROLES.scram.password}'`);

  return {
    host: '127.0.0.1',
    port,
    socketDir: root,
    dataDir,
    caFile: certs.caCert,
    certFile: certs.proxyCert,
    keyFile: certs.proxyKey,
    stop() {
      spawnSync(path.join(bin, 'pg_ctl'), ['-D', dataDir, '-m', 'immediate', '-w', 'stop'], { uid: owner?.uid, gid: owner?.gid });
      rmSync(root, { recursive: true, force: true });
    },
  };
}

/** The bin directory of the newest PostgreSQL server installed (PG_LLM_TEST_PGBIN overrides). */
export function serverBinDir(): string {
  if (process.env.PG_LLM_TEST_PGBIN) return process.env.PG_LLM_TEST_PGBIN;
  const debianRoot = '/usr/lib/postgresql';
  if (existsSync(debianRoot)) {
    const versions = readdirSync(debianRoot)
      .filter((version) => existsSync(path.join(debianRoot, version, 'bin', 'initdb')))
      .sort((a, b) => Number(b) - Number(a));
    if (versions.length > 0) return path.join(debianRoot, versions[0]!, 'bin');
  }
  const initdb = spawnSync('sh', ['-c', 'command -v initdb'], { encoding: 'utf8' }).stdout.trim();
  if (initdb) return path.dirname(initdb);
  throw new Error('PostgreSQL server binaries (initdb, pg_ctl) not found: install postgresql or set PG_LLM_TEST_PGBIN');
}

function makeCertificates(root: string): { caCert: string; serverCert: string; serverKey: string; proxyCert: string; proxyKey: string } {
  const dir = path.join(root, 'certs');
  execFileSync('mkdir', ['-p', dir]);
  const openssl = (...args: string[]): void => void execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=pg-llm-test-ca', '-keyout', 'ca.key', '-out', 'ca.crt');
  writeFileSync(path.join(dir, 'san.ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\n');
  for (const name of ['server', 'proxy']) {
    openssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost', '-keyout', `${name}.key`, '-out', `${name}.csr`);
    openssl('x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2', '-extfile', 'san.ext', '-out', `${name}.crt`);
    chmodSync(path.join(dir, `${name}.key`), 0o600);
  }
  return {
    caCert: path.join(dir, 'ca.crt'),
    serverCert: path.join(dir, 'server.crt'),
    serverKey: path.join(dir, 'server.key'),
    proxyCert: path.join(dir, 'proxy.crt'),
    proxyKey: path.join(dir, 'proxy.key'),
  };
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}
