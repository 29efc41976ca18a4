// The project's root directory (where package.json is), found from this module's location so it is the same
// whether the code runs compiled from dist/ or as TypeScript under the test runner; and the version it declares.

import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

function findRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(dir, 'package.json'))) {
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error('package.json not found above the proxy code');
    dir = parent;
  }
  return dir;
}

export const PACKAGE_ROOT = findRoot();

/** The version in package.json. */
export function packageVersion(): string {
  return (JSON.parse(readFileSync(path.join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
}
