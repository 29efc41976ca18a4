// Review (issue 12): the vectorizer worker made the batch API of each embedding config once, and kept it (two SDK
// clients with their connection pools) for as long as the proxy ran: a table owner creating vectorizers of ever new
// configs grew it without bound. It now keeps no more of them than the providers' cache keeps providers.

import pg from 'pg';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { masterKey } from '../../src/crypto/secrets.js';
import { DefaultProviders } from '../../src/providers/default-provider.js';
import { MAX_BUILT } from '../../src/providers/index.js';
import { VectorizerBatches } from '../../src/worker/vectorizer-batches.js';
import type { Vectorizer } from '../../src/worker/vectorizers.js';
import { afterThisTest } from '../support/database.js';
import { startFakeProvider } from '../support/fake-provider.js';
import { heldLive } from '../support/held-memory.js';
import { cluster, connection } from '../support/proxy.js';

const KEYS = [masterKey('test master key')];
const MIB = 1024 ** 2;
/** Longer than an idle keep-alive connection of a client (and of the fake's server) is kept open. */
const CONNECTIONS_CLOSED_MS = 6000;

/** A vectorizer in batch mode whose embedding config is its own: the dimensions differ. */
function vectorizerOf(dimensions: number): Vectorizer {
  return {
    id: 1,
    name: 'v',
    sourceSchema: 'public',
    sourceTable: 'docs',
    sourcePk: [{ attname: 'id', pknum: 1 }],
    queueSchema: 'ai',
    queueTable: 'q',
    queueFailedTable: 'q_failed',
    config: {
      loading: { column_name: 'body' },
      chunking: { implementation: 'none' },
      formatting: { template: '$chunk' },
      embedding: { implementation: 'openai', model: 'text-embedding-3-small', dimensions },
      processing: { batch_api: true },
      destination: {},
    },
    asker: JSON.stringify(['alice', 'db']),
  };
}

describe("the vectorizer worker's batch APIs", () => {
  it('are kept no more than the providers are, however many embedding configs its vectorizers name', { timeout: 300_000 }, async () => {
    const fake = await startFakeProvider();
    const pool = new pg.Pool(connection(cluster().port));
    const stopping = new AbortController();
    afterThisTest(async () => {
      stopping.abort();
      await pool.end();
      await fake.close();
    });
    const defaults = new DefaultProviders({ masterKeys: KEYS, env: { OPENAI_API_KEY: 'sk-batch-apis-0123456789', OPENAI_BASE_URL: fake.baseUrl } });
    const batches = new VectorizerBatches({ pool, defaults, retryDelayMs: 50, log: pino({ level: 'silent' }), signal: stopping.signal });
    const batch = { keys: [{ id: 1 }], retries: [0], rows: [], tooLong: [], oversized: [] };
    const chunks = [{ key: { id: 1 }, seq: 0, chunk: 'text', formatted: 'text' }];
    const submitted = async (from: number, to: number) => {
      for (let dimensions = from; dimensions < to; dimensions++) await batches.submit(vectorizerOf(dimensions), batch, chunks);
      // The fake provider (in this process) keeps what it was sent: not the worker's to hold.
      fake.requests.length = 0;
      fake.batches.all.length = 0;
      await new Promise((resolve) => setTimeout(resolve, CONNECTIONS_CLOSED_MS));
    };
    // Enough configs that every cache of them is full (the providers' too): more only replace what is kept.
    await submitted(1, MAX_BUILT + 50);
    const before = heldLive();
    await submitted(MAX_BUILT + 50, MAX_BUILT + 1050);
    // Each batch API kept is some 20 kB: 1,000 of them were over 20 MiB; some 3.5 MiB grow without them.
    expect(heldLive() - before).toBeLessThan(10 * MIB);
  });
});
