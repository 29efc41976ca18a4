// Model instances in the catalog: registered by pg_llm_add_model, read by every call. Secrets never reach the
// database in clear: the API key and the secret-bearing part of the config are sealed with the master key, and the
// plaintext columns hold a redacted form.

import type { CallContext } from '../../functions/declaration.js';
import { PgError } from '../../proxy/pg-error.js';
import { SECRET_CONFIG_KEY as SECRET_KEY } from '../crypto/secret-fragments.js';
import { open, redact, seal, SecretError } from '../crypto/secrets.js';

export const MODELS = '_pg_llm_catalog.pg_llm_models';

export interface ModelInstance {
  instanceName: string;
  modelType: string;
  local: boolean;
  /** The whole config, secrets included, opened with the master key. */
  config: Record<string, unknown>;
  apiKey: string | undefined;
}

export interface NewModel {
  local: boolean;
  modelType: string;
  instanceName: string;
  apiKey: string | null;
  config: Record<string, unknown>;
}

export async function saveModel(context: CallContext, model: NewModel): Promise<void> {
  const secretEntries = Object.entries(model.config).filter(([key]) => SECRET_KEY.test(key));
  const needsKey = Boolean(model.apiKey) || secretEntries.length > 0;
  const [key] = needsKey ? await context.masterKeys() : [];
  if (needsKey && !key) {
    throw new PgError('55000', `cannot store the secrets of model instance "${model.instanceName}": no master key is configured`, {
      hint: 'Start the proxy with PG_LLM_MASTER_KEY (or --master-key), or SET pg_llm.master_key in this session.',
    });
  }
  const visibleConfig = Object.fromEntries(
    Object.entries(model.config).map(([name, value]) => [name, SECRET_KEY.test(name) ? redact(String(value)) : value]),
  );
  await context.query(
    `INSERT INTO ${MODELS} (instance_name, model_type, local_model, api_key, config, encrypted_api_key, encrypted_config)
     VALUES ($1, $2, $3, $4, $5::jsonb, decode($6, 'base64'), decode($7, 'base64'))
     ON CONFLICT (instance_name) DO UPDATE SET model_type = EXCLUDED.model_type, local_model = EXCLUDED.local_model,
       api_key = EXCLUDED.api_key, config = EXCLUDED.config, encrypted_api_key = EXCLUDED.encrypted_api_key,
       encrypted_config = EXCLUDED.encrypted_config, updated_at = now()`,
    [
      model.instanceName,
      model.modelType,
      String(model.local),
      model.apiKey ? redact(model.apiKey) : null,
      JSON.stringify(visibleConfig),
      model.apiKey && key ? seal(model.apiKey, key).toString('base64') : null,
      secretEntries.length > 0 && key ? seal(JSON.stringify(model.config), key).toString('base64') : null,
    ],
  );
}

export async function removeModel(context: CallContext, instanceName: string): Promise<boolean> {
  const rows = await context.query(`DELETE FROM ${MODELS} WHERE instance_name = $1 RETURNING 1 AS removed`, [instanceName]);
  return rows.length > 0;
}

/** What reading a model needs: a call's context, or the worker's own connection and keys. */
export type ModelSource = Pick<CallContext, 'query' | 'masterKeys'>;

export async function loadModel(context: ModelSource, instanceName: string): Promise<ModelInstance> {
  const [row] = await context.query(
    `SELECT model_type, local_model, config::text AS config, encode(encrypted_api_key, 'base64') AS api_key,
            encode(encrypted_config, 'base64') AS secret_config
       FROM ${MODELS} WHERE instance_name = $1`,
    [instanceName],
  );
  if (!row) {
    throw new PgError('42704', `model instance "${instanceName}" does not exist`, {
      hint: 'Register it with pg_llm_add_model(local_model, model_type, instance_name, api_key, config).',
    });
  }
  const opened = async (blob: string | null): Promise<string | undefined> => {
    if (!blob) return undefined;
    try {
      return open(Buffer.from(blob, 'base64'), await context.masterKeys());
    } catch (error) {
      if (!(error instanceof SecretError)) throw error;
      throw new PgError('28000', `cannot open the secrets of model instance "${instanceName}": ${error.message}`, {
        hint: 'Configure the master key the model was registered with (PG_LLM_MASTER_KEY, PG_LLM_PREVIOUS_MASTER_KEYS or SET pg_llm.master_key).',
      });
    }
  };
  const secretConfig = await opened(row.secret_config ?? null);
  return {
    instanceName,
    modelType: row.model_type!,
    local: row.local_model === 't',
    config: JSON.parse(secretConfig ?? row.config ?? '{}') as Record<string, unknown>,
    apiKey: await opened(row.api_key ?? null),
  };
}

/** The names of the registered model instances, and which are marked as local fallbacks. */
export async function listModels(context: CallContext): Promise<Array<{ instanceName: string; isLocalFallback: boolean }>> {
  const rows = await context.query(`SELECT instance_name, coalesce(config->>'is_local_fallback', 'false') AS is_local_fallback FROM ${MODELS} ORDER BY instance_name`);
  return rows.map((row) => ({ instanceName: row.instance_name!, isLocalFallback: row.is_local_fallback === 'true' }));
}
