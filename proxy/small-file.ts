// Reading a short file (a lock file, a password file) from a place other local users may write to, such as /tmp:
// a FIFO there would block a plain read, and with it the whole proxy, for ever; a symbolic link would lead the read
// elsewhere; a huge file would fill the memory.

import { closeSync, constants, fstatSync, lstatSync, openSync, readSync } from 'node:fs';

/** The file is something other than a regular file: a FIFO, a device, a directory, a symbolic link. */
export class NotRegularFileError extends Error {}

export interface SmallFile {
  /** The first bytes of the file, as many as were asked for at most. */
  text: string;
  /** Whole, which may exceed the text read. */
  size: number;
  uid: number;
  mode: number;
}

/** The start of a regular file, or undefined when there is none. Throws NotRegularFileError, or the system's error. */
export function readSmallFile(file: string, maxBytes: number): SmallFile | undefined {
  let fd: number | undefined;
  try {
    // lstat before opening at all: opening a device may act on it, even without a read
    if (!lstatSync(file).isFile()) throw new NotRegularFileError(`"${file}" is not a regular file`);
    fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    const { size, uid, mode } = fstatSync(fd);
    const start = Buffer.alloc(maxBytes);
    return { text: start.toString('utf8', 0, readSync(fd, start, 0, maxBytes, 0)), size, uid, mode };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
