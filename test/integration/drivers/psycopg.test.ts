// The driver matrix with psycopg 3, Debian's python3-psycopg, run by the system Python.

import { fileURLToPath } from 'node:url';
import { driverMatrix } from '../../support/driver-matrix.js';
import { scriptDriver } from '../../support/driver-script.js';

const SCRIPT = fileURLToPath(new URL('./scripts/drive_psycopg.py', import.meta.url));

driverMatrix((target) => scriptDriver('/usr/bin/python3', ['-B', SCRIPT], target), {
});
