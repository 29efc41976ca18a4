// The password of the embedded server's superuser `postgres`, which every login needs. The proxy relays all its
// clients, from TCP and from its world-writable Unix socket alike, over the one private socket of the server, so the
// server cannot tell them apart by where they come from: without a password, whoever reaches the proxy would be the
// superuser, who can run programs and read files as the server's OS user.
//
// The password is kept in `<data directory>.password`, a file only the proxy's user reads, and set in the cluster in
// single-user mode before the server starts, so the server never runs while its pg_hba.conf trusts a connection.

import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { EmbeddedServerError } from './error.js';
import { keepSecret, readKeptSecret } from './kept-secret.js';
import type { ServerUser } from './server-user.js';

export interface PasswordSetting {
  /** The `postgres` binary, run in single-user mode to set the password. */
  postgres: string;
  dataDir: string;
  /** --embedded-password; without it, the one in the password file, or a new random one. */
  chosen: string | undefined;
  user: ServerUser | undefined;
  cwd: string;
}

const WHAT = "the embedded PostgreSQL's password";

/** Where the password of a data directory is kept: beside it, as the server's user owns everything inside. */
export function passwordFile(dataDir: string): string {
  return `${dataDir}.password`;
}

/**
 * Makes the cluster ask for the password: sets it when it is new or another was chosen, and turns the `trust`
 * of a cluster created before passwords (or by initdb just now) into `scram-sha-256`. Each step is repeated at the
 * next start if the proxy dies between them.
 */
/**
 * Before a cluster is created: a password file already beside it is not one this proxy wrote, so whoever wrote it
 * would know the superuser's password. Checked before initdb, so that the next start cannot take it either.
 */
export function refuseForeignPassword(dataDir: string, chosen: string | undefined): void {
  const file = passwordFile(dataDir);
  if (chosen !== undefined || !existsSync(file)) return;
  throw new EmbeddedServerError(
    `${file} exists but the data directory ${dataDir} holds no cluster yet, so this proxy did not write it and takes no password from it: ` +
      'remove the file, or choose the password with --embedded-password',
  );
}

export async function requirePassword({ postgres, dataDir, chosen, user, cwd }: PasswordSetting): Promise<void> {
  const file = passwordFile(dataDir);
  const kept = readKeptSecret(file, WHAT);
  const hba = path.join(dataDir, 'pg_hba.conf');
  const rules = readRules(hba);
  const asking = withoutTrust(rules);
  const password = usable(chosen ?? kept ?? randomBytes(18).toString('base64url'), chosen ? '--embedded-password' : file);
  if (asking === rules && password === kept) return;
  await setPassword(postgres, dataDir, password, user, cwd);
  keepSecret(file, password, WHAT);
  if (asking !== rules) writeFileSync(hba, asking);
}

function readRules(hba: string): string {
  try {
    return readFileSync(hba, 'utf8');
  } catch (error) {
    throw new EmbeddedServerError(`cannot read the embedded PostgreSQL's ${hba}: ${(error as Error).message}`);
  }
}

/** pg_hba.conf with every `trust` rule asking for a SCRAM password instead. */
function withoutTrust(rules: string): string {
  return rules.replace(/^(?!\s*#)([^#\n]*?\s)trust(?=\s|$)/gm, '$1scram-sha-256');
}

/** One line of printable characters: single-user mode reads a statement per line. */
function usable(password: string, source: string): string {
  if (!/^[^\x00-\x1f\x7f]+$/.test(password)) throw new EmbeddedServerError(`the password in ${source} must be one line of printable characters`);
  return password;
}

/** Runs ALTER ROLE in single-user mode, which opens no socket: nothing can log in meanwhile, with or without it. */
function setPassword(postgres: string, dataDir: string, password: string, user: ServerUser | undefined, cwd: string): Promise<void> {
  // exit_on_error: an error is otherwise only printed; log_min_error_statement: the statement holds the password
  const settings = ['exit_on_error=on', 'log_min_error_statement=panic', 'log_min_messages=warning'];
  const single = spawn(postgres, ['--single', '-D', dataDir, ...settings.flatMap((setting) => ['-c', setting]), 'postgres'], {
    uid: user?.uid,
    gid: user?.gid,
    cwd,
    stdio: ['pipe', 'ignore', 'pipe'],
  });
  let stderr = '';
  single.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  single.stdin!.on('error', () => {});
  single.stdin!.end(`ALTER ROLE postgres PASSWORD '${password.replaceAll("'", "''")}'\n`);
  return new Promise((resolve, reject) => {
    single.once('error', (error) => reject(new EmbeddedServerError(`cannot run ${postgres}: ${error.message}`)));
    single.once('close', (code) => {
      if (code === 0) resolve();
      else reject(new EmbeddedServerError(`could not set the password of the embedded PostgreSQL in ${dataDir}:\n${stderr.trim()}`));
    });
  });
}
