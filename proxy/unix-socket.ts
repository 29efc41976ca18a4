// The path of the proxy's Unix-domain socket, named as PostgreSQL names its own (DIR/.s.PGSQL.PORT) so that libpq
// and the drivers find it with host=DIR. As PostgreSQL does, the proxy claims the path with a lock file holding its
// process id: a lock whose process lives means another server owns the path; a stale one (a crashed proxy's) goes.

import { lstatSync, rmSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { NotRegularFileError, readSmallFile } from './small-file.js';

/** Linux's sun_path holds 108 bytes, the last for the terminating NUL. */
const MAX_SOCKET_PATH_BYTES = 107;
/** A lock file is a few short lines, PostgreSQL's as ours; the first is all that is read of it. */
const MAX_LOCK_FILE_BYTES = 1024;
/** Another starting server may take the lock between our removal of a stale one and our next try (PostgreSQL's bound). */
const LOCK_ATTEMPTS = 100;

/** Why the socket path cannot be used; its message is meant for the operator as it is. */
export class SocketPathError extends Error {}

export interface ClaimedSocketPath {
  path: string;
  /** Removes the socket file, if still there, and then the lock file. */
  release(): void;
}

/**
 * Takes the lock on DIR/.s.PGSQL.PORT and clears the path for binding: a socket file nobody answers on is a leftover
 * and is removed; a lock with a live process, or a socket something answers on, is refused and left alone.
 */
export async function claimSocketPath(dir: string, port: number): Promise<ClaimedSocketPath> {
  const file = path.join(dir, `.s.PGSQL.${port}`);
  const length = Buffer.byteLength(file);
  if (length > MAX_SOCKET_PATH_BYTES) {
    throw new SocketPathError(`Unix socket path "${file}" is ${length} bytes long, longer than the ${MAX_SOCKET_PATH_BYTES} the system allows: choose a shorter socket directory`);
  }
  requireDirectory(dir);
  const lock = `${file}.lock`;
  takeLock(lock, file);
  try {
    await removeLeftoverSocket(file);
  } catch (error) {
    rmSync(lock, { force: true });
    throw error;
  }
  return {
    path: file,
    release() {
      rmSync(file, { force: true });
      rmSync(lock, { force: true });
    },
  };
}

function requireDirectory(dir: string): void {
  let isDirectory: boolean;
  try {
    isDirectory = statSync(dir).isDirectory();
  } catch (error) {
    throw new SocketPathError(`Unix socket directory "${dir}" cannot be used: ${(error as Error).message}`);
  }
  if (!isDirectory) throw new SocketPathError(`Unix socket directory "${dir}" is not a directory`);
}

function takeLock(lock: string, file: string): void {
  for (let attempt = 1; ; attempt++) {
    try {
      // Readable by its owner only, as PostgreSQL's: other local users have no business with it.
      writeFileSync(lock, `${process.pid}\n`, { flag: 'wx', mode: 0o600 });
      return;
    } catch (error) {
      if (errorCode(error) !== 'EEXIST' || attempt === LOCK_ATTEMPTS) throw new SocketPathError(`cannot create lock file "${lock}": ${(error as Error).message}`);
    }
    const holder = liveHolder(lock, file);
    if (holder !== undefined) {
      throw new SocketPathError(
        `lock file "${lock}" is held by process ${holder}: another pg-llm-proxy or a PostgreSQL server is using "${file}"; ` +
          'stop it, or choose another port or socket directory (if no such process uses it, remove the lock file)',
      );
    }
    removeLeftover(lock);
  }
}

/** The live process a lock file names, or undefined when the file is stale or gone. */
function liveHolder(lock: string, file: string): number | undefined {
  const content = readLock(lock, file);
  if (content === undefined) return undefined;
  const pid = Number(content.split('\n', 1)[0]);
  if (!Number.isSafeInteger(pid) || pid <= 0) {
    throw new SocketPathError(`lock file "${lock}" holds no process id: if no server uses "${file}", remove the lock file`);
  }
  // Our own id or our parent's cannot be another server's: it is a container restarted with the same ids, as
  // PostgreSQL reasons about its lock files.
  if (pid === process.pid || pid === process.ppid) return undefined;
  return isAlive(pid) ? pid : undefined;
}

/** The start of a lock file, or undefined when it is gone. */
function readLock(lock: string, file: string): string | undefined {
  try {
    return readSmallFile(lock, MAX_LOCK_FILE_BYTES)?.text;
  } catch (error) {
    if (error instanceof NotRegularFileError) {
      throw new SocketPathError(`lock file "${lock}" is not a regular file: remove it, or choose another port or socket directory`);
    }
    throw new SocketPathError(`cannot read lock file "${lock}" (${(error as Error).message}): another user's server may be using "${file}"`);
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it lives, under another user.
    return errorCode(error) === 'EPERM';
  }
}

/** A server without a lock file of ours (PgBouncer, a proxy of another user) may still be listening on the path. */
async function removeLeftoverSocket(file: string): Promise<void> {
  let isSocket: boolean;
  try {
    isSocket = lstatSync(file).isSocket();
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return;
    throw new SocketPathError(`cannot inspect "${file}": ${(error as Error).message}`);
  }
  if (!isSocket) throw new SocketPathError(`"${file}" exists and is not a socket: remove it, or choose another port or socket directory`);
  const answer = await probe(file);
  if (answer === 'answers') throw new SocketPathError(`a server is already listening on "${file}": stop it, or choose another port or socket directory`);
  if (answer !== 'ECONNREFUSED') throw new SocketPathError(`cannot tell whether a server listens on "${file}" (${answer}): it is left alone`);
  removeLeftover(file);
}

/** 'answers', or the error code of the connection attempt: ECONNREFUSED when no process listens on the socket. */
function probe(file: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect(file);
    socket.once('connect', () => {
      socket.destroy();
      resolve('answers');
    });
    socket.once('error', (error) => resolve(errorCode(error) ?? error.message));
  });
}

function removeLeftover(file: string): void {
  try {
    rmSync(file, { force: true });
  } catch (error) {
    throw new SocketPathError(`cannot remove the stale "${file}": ${(error as Error).message}`);
  }
}

function errorCode(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException).code;
}
