// One llm.call job's model call: which model answers (the trigger's model instance, else the proxy's default
// model; through the provider's batch API when the instance's config says so: batch-jobs.ts), what it is asked,
// and how its answer becomes the target columns' values. One target column takes the
// answer as it is; several are filled from one JSON answer, asked for with a schema naming exactly those columns.

import pg from 'pg';
import { BoundedCache } from '../bounded-cache.js';
import { loadModel } from '../catalog/models.js';
import type { MasterKey } from '../crypto/secrets.js';
import type { DefaultProviders } from '../providers/default-provider.js';
import { ProviderError } from '../providers/errors.js';
import type { Asker } from '../providers/asker.js';
import { MAX_BUILT, providerFor } from '../providers/index.js';
import { chatOptions, parseJsonAnswer } from '../providers/options.js';
import { batchApiFor, type BatchApi } from '../providers/batch-apis.js';
import type { ChatOptions, Provider } from '../providers/provider.js';
import type { Job } from './queue.js';

/** The instance name the default model's provider is built under, as llm_ask builds it. */
const DEFAULT_INSTANCE = 'default';
/** Registered models are read again after this long, so a model changed with pg_llm_add_model is soon in use. */
const MODEL_TTL_MS = 5000;

export interface Model {
  provider: Provider;
  config: Record<string, unknown>;
  /** Whether the instance's config has "batch": true: its jobs go through the provider's batch API (batch-jobs.ts). */
  batched: boolean;
  /** That API (0A000 for a provider without one), also for batches submitted before "batch" left the config. */
  batches(): BatchApi;
}

function modelOf(instance: string, config: Record<string, unknown>, apiKey: string | undefined): Model {
  let batches: BatchApi | undefined;
  return {
    provider: providerFor(instance, config, apiKey),
    config,
    batched: config.batch === true,
    batches: () => (batches ??= batchApiFor(instance, config, apiKey)),
  };
}

/** The models of one database's jobs, read with the worker's connection and opened with the proxy's keys. */
export class JobModels {
  /**
   * Each with its provider, which it would keep alive after the providers' cache let it go: no more of them than
   * that cache keeps, and none past its time.
   */
  private readonly loaded = new BoundedCache<string, Promise<Model>>(MAX_BUILT, MODEL_TTL_MS);

  constructor(
    private readonly pool: pg.Pool,
    private readonly masterKeys: MasterKey[],
    private readonly defaults: DefaultProviders,
  ) {}

  async model(instance: string | null): Promise<Model> {
    if (instance === null) {
      const chosen = this.defaults.model();
      // Its jobs name no instance, which a batch's jobs are looked up by: the default model answers them one by one.
      return { ...modelOf(DEFAULT_INSTANCE, chosen.config, chosen.apiKey), batched: false };
    }
    const cached = this.loaded.get(instance);
    if (cached) return cached;
    const model = this.load(instance);
    this.loaded.set(instance, model);
    // A failure is not kept: the next job asks again (the model may be registered by then).
    model.catch(() => this.loaded.delete(instance));
    return model;
  }

  private async load(instance: string): Promise<Model> {
    const source = {
      // loadModel reads rows as the proxy's sessions give them: every value as text.
      query: async (sql: string, parameters?: Array<string | null>) =>
        (await this.pool.query({ text: sql, values: parameters, types: { getTypeParser: () => (value: string) => value } })).rows,
      masterKeys: async () => this.masterKeys,
      database: async () => (await this.pool.query('SELECT pg_catalog.current_database() AS name')).rows[0].name as string,
    };
    // The worker runs as the table's owner, whose trigger named the model and whose table gets the answer.
    const stored = await loadModel(source, instance, { role: null, source: "the llm.call trigger's model argument" });
    return modelOf(instance, stored.config, stored.apiKey);
  }
}

/**
 * Asks the job's model as the owner of its table (`owner`, an asker: asker.ts), whose share of the proxy's model
 * calls it takes and whose daily budget it counts in, and returns the values of its target columns, by column name.
 */
export async function answerJob(job: Job, model: Model, signal: AbortSignal, owner: Asker): Promise<Record<string, unknown>> {
  const result = await model.provider.chat({ ...jobRequest(job, model.config), signal, asker: owner });
  return jobAnswer(job, result.text);
}

/**
 * What the job's model is asked. One target column takes the answer as it is; several are asked for as one JSON
 * object with a schema naming exactly those columns.
 */
export function jobRequest(job: Job, config: Record<string, unknown>): { prompt: string; options: ChatOptions } {
  const columns = job.targetColumns;
  if (columns.length === 1) return { prompt: job.prompt, options: chatOptions(config) };
  const responseFormat = {
    type: 'json_schema',
    json_schema: {
      name: 'column_values',
      schema: {
        type: 'object',
        properties: Object.fromEntries(columns.map((column) => [column, { type: 'string' }])),
        required: columns,
        additionalProperties: false,
      },
    },
  };
  // Said in the prompt too: not every model honours a schema, and some only a JSON mode.
  return { prompt: `${job.prompt}\n\nReturn a JSON object with exactly these keys: ${columns.join(', ')}`, options: chatOptions(config, { response_format: responseFormat }) };
}

/** The values of the job's target columns, by column name, from the model's answer to jobRequest. */
export function jobAnswer(job: Job, text: string): Record<string, unknown> {
  const [only, ...more] = job.targetColumns;
  if (more.length === 0) return { [only!]: text };
  const columns = job.targetColumns;
  const answer = parseJsonAnswer(text);
  if (typeof answer !== 'object' || answer === null || Array.isArray(answer)) throw new ProviderError('the model answered JSON that is not an object of column values');
  const missing = columns.filter((column) => !(column in answer));
  if (missing.length > 0) throw new ProviderError(`the model's JSON answer has no value for ${missing.join(', ')}`);
  return Object.fromEntries(columns.map((column) => [column, (answer as Record<string, unknown>)[column]]));
}
