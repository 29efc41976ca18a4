// A secret the proxy makes once for its embedded server and keeps beside the data directory (the superuser's
// password, the master key of model secrets): a file only the proxy's user may read or write. The rules are
// libpq's for ~/.pgpass: anyone who could write or plant the file would choose the secret, anyone who could read it
// would know it.

import { closeSync, constants, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { NotRegularFileError, readSmallFile } from '../../proxy/small-file.js';
import { EmbeddedServerError } from './error.js';

/** Far more than any password or key; the bound keeps a planted huge file from filling the memory. */
const MAX_SECRET_FILE_BYTES = 4096;

/** The kept secret (without its line end), or undefined when there is no file. `what` names it in errors. */
export function readKeptSecret(file: string, what: string): string | undefined {
  let kept;
  try {
    kept = readSmallFile(file, MAX_SECRET_FILE_BYTES);
  } catch (error) {
    if (error instanceof NotRegularFileError) throw new EmbeddedServerError(`${what} file ${file} is not a regular file: remove it`);
    throw new EmbeddedServerError(`cannot read ${what} file: ${(error as Error).message}`);
  }
  if (kept === undefined) return undefined;
  if (kept.uid !== process.getuid!() || (kept.mode & 0o077) !== 0) {
    throw new EmbeddedServerError(
      `${what} file ${file} must belong to the proxy's user and allow no access to group or others (chmod 600): if you did not write it, remove it`,
    );
  }
  if (kept.size > MAX_SECRET_FILE_BYTES) throw new EmbeddedServerError(`${what} file ${file} is longer than any secret`);
  return kept.text.replace(/\r?\n$/, '');
}

/**
 * Replaces the file whole, so that it never holds a secret with wider permissions than 0600, nor half of one. The
 * draft is created anew: a file or link planted under its name would otherwise receive the secret. (A draft left
 * by a proxy that died with the same process id, as in a restarted container, is removed first.)
 */
export function keepSecret(file: string, secret: string, what: string): void {
  const draft = `${file}.${process.pid}`;
  try {
    rmSync(draft, { force: true });
    const fd = openSync(draft, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
    try {
      writeSync(fd, `${secret}\n`);
    } finally {
      closeSync(fd);
    }
    renameSync(draft, file);
  } catch (error) {
    throw new EmbeddedServerError(`cannot keep ${what} in ${file}: ${(error as Error).message}`);
  }
}
