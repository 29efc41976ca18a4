// A throwaway cluster of a PostgreSQL server with pgvector, for the tests of a describe block: started before them,
// stopped after. The suite's own cluster has no pgvector (its server is the one installed, so that the real[]
// fallback stays tested); .ci/pgvector-server.sh builds a copy of that server with pgvector built in, whose bin
// directory PG_LLM_TEST_PGVECTOR_BIN names (.ci/run sets it). Without it the tests are skipped, except in CI.

import { afterAll, beforeAll } from 'vitest';
import { startCluster, type Cluster } from './cluster.js';

const BIN = process.env.PG_LLM_TEST_PGVECTOR_BIN;

/** No server with pgvector here, and not in CI (where its absence fails the tests). */
export const withoutPgvectorServer = !BIN && !process.env.CI;

export function pgvectorCluster(timeoutMs: number): { cluster: Cluster } {
  const suite = {} as { cluster: Cluster };
  beforeAll(async () => {
    if (!BIN) throw new Error('PG_LLM_TEST_PGVECTOR_BIN is not set: run .ci/pgvector-server.sh DIR and set it to the bin directory it prints');
    suite.cluster = await startCluster({ binDir: BIN });
  }, timeoutMs);
  afterAll(() => suite.cluster?.stop());
  return suite;
}
