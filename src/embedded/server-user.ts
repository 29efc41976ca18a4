// The OS user a PostgreSQL server runs as. PostgreSQL refuses to run as root, so a server started by root runs as
// the `postgres` user (or `nobody`, which every system has) and owns the files it works in.

import { spawnSync } from 'node:child_process';
import { chownSync, lchownSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { EmbeddedServerError } from './error.js';

export interface ServerUser {
  name: string;
  uid: number;
  gid: number;
}

/** The user to run the server as when started by root; undefined when the server can run as this process's user. */
export function serverUser(): ServerUser | undefined {
  if (process.getuid?.() !== 0) return undefined;
  for (const name of ['postgres', 'nobody']) {
    const uid = spawnSync('id', ['-u', name], { encoding: 'utf8' });
    const gid = spawnSync('id', ['-g', name], { encoding: 'utf8' });
    if (uid.status === 0 && gid.status === 0) return { name, uid: Number(uid.stdout), gid: Number(gid.stdout) };
  }
  throw new EmbeddedServerError('running as root, but there is no postgres or nobody user to run PostgreSQL as');
}

/** Gives a directory and everything in it to the server's user (symbolic links themselves, not their targets). */
export function chownTree(dir: string, user: ServerUser): void {
  chownSync(dir, user.uid, user.gid);
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) chownTree(full, user);
    else lchownSync(full, user.uid, user.gid);
  }
}
