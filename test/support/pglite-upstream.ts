// PGlite (PostgreSQL compiled to WebAssembly) served on a loopback port, as an upstream with PGlite's packaged
// extensions (pgvector) for tests: the throwaway cluster and the embedded server have no pgvector. PGlite is one
// backend, so it serves one connection at a time.

import { PGlite, type Extensions } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';
import type { UpstreamTarget } from '../../proxy/upstream.js';

export interface PgliteUpstream {
  target: UpstreamTarget;
  stop(): Promise<void>;
}

/** `extensions`: PGlite's packaged extensions to make available (CREATE EXTENSION still installs them). */
export async function startPgliteUpstream(extensions: Extensions): Promise<PgliteUpstream> {
  const db = await PGlite.create('memory://', { extensions });
  const server = new PGLiteSocketServer({ db, host: '127.0.0.1', port: 0, maxConnections: 1 });
  await server.start();
  const port = Number(server.getServerConn().split(':').pop());
  return {
    target: { host: '127.0.0.1', port, sslMode: 'disable', connectTimeoutMs: 60_000 },
    async stop() {
      await server.stop();
      await db.close();
    },
  };
}
