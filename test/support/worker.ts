// An llm.call worker in the test process, on one database of the test cluster, stopped after the test; and a
// database for it to fill.

import type pg from 'pg';
import { pino, type Logger } from 'pino';
import { migrate } from '../../src/catalog/migrate.js';
import { masterKey } from '../../src/crypto/secrets.js';
import { DEFAULT_ARGUMENT_LIMITS } from '../../src/intercept/argument-limits.js';
import { DefaultProviders, type DefaultSources } from '../../src/providers/default-provider.js';
import type { WorkerSettings } from '../../src/worker/config.js';
import { QueueWorker } from '../../src/worker/worker.js';
import { afterThisTest, freshDatabase } from './database.js';
import { API_KEY } from './models.js';
import { clientOf } from './pg-ai.js';
import { cluster, startProxy } from './proxy.js';

const KEYS = [masterKey('test master key')];
const FAST: Omit<WorkerSettings, 'databases'> = { concurrency: 8, leaseMs: 5000, pollMs: 200, retryDelayMs: 50, batchPollMs: 200, keepDoneSeconds: 3600, maxJobBytes: DEFAULT_ARGUMENT_LIMITS.call };

/**
 * Starts a worker for `database`, connected as `role` (user[:password]) to `port` (the cluster's), logging to `log`;
 * it stops after the test.
 */
export function startWorker(
  database: string,
  settings: Partial<WorkerSettings> = {},
  defaults: DefaultSources = { env: {} },
  role = 'postgres',
  port = cluster().port,
  log: Logger = pino({ level: process.env.PG_LLM_TEST_LOG_LEVEL ?? 'silent' }),
): QueueWorker {
  const worker = new QueueWorker({
    url: `postgres://${role}@127.0.0.1:${port}/${database}`,
    settings: { ...FAST, ...settings },
    defaults: new DefaultProviders({ masterKeys: KEYS, ...defaults }),
    masterKeys: KEYS,
    log,
  });
  worker.start();
  afterThisTest(() => worker.stop(1000));
  return worker;
}

/** A database with the catalog, a mock model instance 'm' of the given config, and a docs table enriched by it. */
export async function docsDatabase(config: Record<string, unknown>, triggerArgs = `'Summarize: {body}', 'summary', 'model=m'`) {
  const { name, client } = await freshDatabase();
  await migrate(client);
  await client.query(`INSERT INTO _pg_llm_catalog.pg_llm_models (instance_name, model_type, config) VALUES ('m', 'mock', $1)`, [JSON.stringify(config)]);
  await client.query(`CREATE TABLE docs (id int PRIMARY KEY, body text, summary text)`);
  await client.query(`CREATE TRIGGER enrich AFTER INSERT OR UPDATE ON docs FOR EACH ROW EXECUTE FUNCTION llm.call(${triggerArgs})`);
  return { name, client };
}

/**
 * A proxy and a database whose docs table is summarized by llm.call jobs in batches of an Anthropic model at
 * `baseUrl`, its worker started, and one row inserted: a client of it through the proxy (postgres).
 */
export async function anthropicBatchJob(baseUrl: string): Promise<pg.Client> {
  const proxy = await startProxy();
  afterThisTest(() => proxy.stop());
  const { name } = await freshDatabase();
  const client = await clientOf(proxy, name);
  await client.query('CREATE EXTENSION pg_llm');
  const config = { provider: 'anthropic', model_name: 'claude-test', max_tokens: 300, base_url: baseUrl, max_retries: 0, batch: true };
  await client.query(`SELECT pg_llm_add_model(false, 'anthropic', 'llm', $1, $2)`, [API_KEY, JSON.stringify(config)]);
  await client.query(`CREATE TABLE docs (id int PRIMARY KEY, body text, summary text)`);
  await client.query(`CREATE TRIGGER enrich AFTER INSERT ON docs FOR EACH ROW EXECUTE FUNCTION llm.call('Summarize: {body}', 'summary', 'model=llm')`);
  startWorker(name);
  await client.query(`INSERT INTO docs (id, body) VALUES (1, 'first')`);
  return client;
}
