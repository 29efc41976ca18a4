// Runs the real psql client, as a user would, against a host and port.

import { spawn } from 'node:child_process';

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
}

export function psql(args: string[], options: PsqlOptions): Promise<PsqlResult> {
  const params = { host: '127.0.0.1', port: String(options.port), user: options.user ?? 'postgres', dbname: options.database ?? 'postgres', sslmode: 'disable', ...options.params };
  const conninfo = Object.entries(params)
    .map(([key, value]) => `${key}='${value.replace(/'/g, "\\'")}'`)
    .join(' ');
  return new Promise((resolve, reject) => {
    const child = spawn('psql', ['-X', '-A', '-t', '-v', 'ON_ERROR_STOP=1', ...args, conninfo], {
      env: { ...process.env, PGPASSWORD: options.password ?? '', PGCONNECT_TIMEOUT: '10' },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr }));
    child.stdin.end(options.input ?? '');
  });
}
