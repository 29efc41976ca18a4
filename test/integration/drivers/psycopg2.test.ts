// The driver matrix with psycopg2, Debian's python3-psycopg2, run by the system Python. It speaks only the simple
// protocol, binding parameters itself and reading every result as text.

import { fileURLToPath } from 'node:url';
import { driverMatrix, EXPECTED } from '../../support/driver-matrix.js';
import { scriptDriver } from '../../support/driver-script.js';

const SCRIPT = fileURLToPath(new URL('./scripts/drive_psycopg2.py', import.meta.url));

driverMatrix((target) => scriptDriver('/usr/bin/python3', ['-B', SCRIPT], target), {
  adapted: {
    extended: { title: 'binds parameters (client-side: psycopg2 has no extended protocol)', expected: EXPECTED.extended },
    prepared: { title: 'reuses a statement prepared with SQL PREPARE', expected: EXPECTED.prepared },
    binary: { title: 'reads bytea and typed values (as text: psycopg2 has no binary results)', expected: EXPECTED.binary },
  },
});
