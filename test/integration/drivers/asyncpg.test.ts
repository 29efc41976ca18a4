// The driver matrix with asyncpg, Debian's python3-asyncpg, run by the system Python. It reads no rows from a
// simple query and cancels a statement through its timeout.

import { fileURLToPath } from 'node:url';
import { driverMatrix, EXPECTED } from '../../support/driver-matrix.js';
import { scriptDriver } from '../../support/driver-script.js';

const SCRIPT = fileURLToPath(new URL('./scripts/drive_asyncpg.py', import.meta.url));

driverMatrix((target) => scriptDriver('/usr/bin/python3', ['-B', SCRIPT], target), {
  adapted: {
    simple: { title: 'runs several statements in one simple query (asyncpg reads the result back apart)', expected: EXPECTED.simple },
  },
});
