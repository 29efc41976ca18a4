// The embedded upstream: PGlite (PostgreSQL compiled to WASM) served on a private loopback port, so the proxy
// runs on a machine with no PostgreSQL. PGlite is one backend: all clients share its single session, so it is for
// trying the proxy out, not for concurrent applications.

import { mkdirSync } from 'node:fs';
import { PGlite, type Extensions } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';
import type { UpstreamTarget } from '../proxy/upstream.js';

export interface EmbeddedUpstream {
  target: UpstreamTarget;
  stop(): Promise<void>;
}

/** `extensions`: PGlite's packaged extensions to make available (CREATE EXTENSION still installs them). */
export async function startEmbeddedUpstream(dataDir: string | undefined, extensions: Extensions = {}): Promise<EmbeddedUpstream> {
  if (dataDir) mkdirSync(dataDir, { recursive: true });
  const db = await PGlite.create(dataDir ?? 'memory://', { extensions });
  // PGlite queues connections beyond this one and runs their queries in its one backend, interleaved.
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
