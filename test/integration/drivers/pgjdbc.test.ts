// The driver matrix with pgJDBC, Debian's libpostgresql-jdbc-java, as a single-file Java program. Its SCRAM (42.5)
// does no channel binding, so it logs in over TLS on both legs.

import { fileURLToPath } from 'node:url';
import { driverMatrix } from '../../support/driver-matrix.js';
import { scriptDriver } from '../../support/driver-script.js';

const PROGRAM = fileURLToPath(new URL('./scripts/DriveJdbc.java', import.meta.url));
const DRIVER_JAR = '/usr/share/java/postgresql.jar';

driverMatrix((target) => scriptDriver('java', ['-cp', DRIVER_JAR, PROGRAM], target));
