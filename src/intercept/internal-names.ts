// Names of the statements, portals and cursors the proxy makes in the client's own session. They share the client's
// namespaces (a cursor is a portal, and SQL's PREPARE names protocol statements): under a fixed name, a client's
// cursor or prepared statement of that name would be closed by the proxy's Close before it reuses the name, or would
// make its DECLARE fail. A random suffix, drawn once per process, makes them names no client picks by chance.

import { randomBytes } from 'node:crypto';

const SUFFIX = randomBytes(8).toString('hex');

/** The proxy's name for one use of its own (`pg_llm_<purpose>_<random hex>`). */
export function internalName(purpose: string): string {
  return `pg_llm_${purpose}_${SUFFIX}`;
}
