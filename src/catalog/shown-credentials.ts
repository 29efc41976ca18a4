// Model rows an earlier version left in a state pg_llm_add_model no longer writes, brought to it by every catalog
// install and upgrade (migrate.ts), as the owner registering the model again would: a config that shows every role
// credentials under names or in places only later versions take for credentials (x-api-key, the values of headers
// or query parameters, a nested token, a URL's user: src/crypto/config-secrets.ts); and secrets bound to a config
// kept aside in bound_config (0019_secrets_kept_to_their_owners.sql), as the config shown then held the last
// characters of its secrets. With a master key that opens a row's secrets, the row is written as pg_llm_add_model
// writes it now: the config shown redacted, its credentials sealed with the first key, every secret bound to the
// config shown, bound_config cleared. Only what the secrets prove is taken for the row's config: the sealed config,
// or the one they are bound to; never a shown config they are not bound to, which an admin may have rewritten.
// Without such a key the secrets stay as they are, and so must what they are bound to: the credentials a row shows
// move to bound_config, which sealed_model() hands only to a holder of the key that sealed the row's secrets. A row
// with nothing sealed has no such key, so hiding them would take them from its model: they stay shown, and the row
// is named for the caller to warn of. A row too big to read is left as it is (sealed-blobs.ts, oversizedModels).

import { isDeepStrictEqual } from 'node:util';
import { visibleConfig } from '../crypto/config-secrets.js';
import { open, SecretError, type MasterKey } from '../crypto/secrets.js';
import type { SqlRunner } from './migrate.js';
import { MODELS, oversizedModel, sealedColumns, type SealedColumns } from './models.js';
import { modelsHaveColumn } from './sealed-blobs.js';
import { secretBinding, type ModelIdentity } from './secret-binding.js';

interface ModelRow extends Record<string, unknown> {
  database: string;
  instance_name: string;
  created_by: string;
  model_type: string;
  config: string;
  bound_config: string | null;
  api_key: string | null;
  secret_config: string | null;
}

type Config = Record<string, unknown>;

/** Brings every such row to what pg_llm_add_model writes now; returns the instances whose configs still show credentials. */
export async function sealShownCredentials(client: SqlRunner, keys: MasterKey[]): Promise<string[]> {
  // A catalog installed only up to a level before 0019 has nowhere to keep a config aside.
  if (!(await modelsHaveColumn(client, 'bound_config'))) return [];
  const { rows } = await client.query<ModelRow>(
    `SELECT pg_catalog.current_database() AS database, m.instance_name, m.created_by, m.model_type, m.config::pg_catalog.text AS config,
            m.bound_config::pg_catalog.text AS bound_config, pg_catalog.encode(m.encrypted_api_key, 'base64') AS api_key,
            pg_catalog.encode(m.encrypted_config, 'base64') AS secret_config
       FROM ${MODELS} m
      WHERE NOT ${oversizedModel('m')}
      ORDER BY m.instance_name FOR UPDATE OF m`,
  );
  const stillShown: string[] = [];
  for (const row of rows) {
    const config = JSON.parse(row.config) as unknown;
    if (config === null || typeof config !== 'object' || Array.isArray(config)) continue;
    const shown = visibleConfig(config as Config);
    if (row.bound_config === null && isDeepStrictEqual(shown, config)) continue;
    const where = { database: row.database, instanceName: row.instance_name, owner: row.created_by, modelType: row.model_type };
    const boundTo = row.bound_config === null ? (config as Config) : (JSON.parse(row.bound_config) as Config);
    const opened = openedSecrets(row, keys, { ...where, visibleConfig: boundTo });
    if (opened) await rewrite(client, row.instance_name, sealedColumns(where, opened.config ?? boundTo, opened.apiKey, keys[0]));
    else if (isDeepStrictEqual(shown, config)) continue;
    else if (row.bound_config !== null || row.api_key !== null || row.secret_config !== null) await keepAside(client, row.instance_name, shown);
    else stillShown.push(row.instance_name);
  }
  return stillShown;
}

/** The row's secrets, opened with `keys` as bound to `identity`; undefined without a key or where none opens them. */
function openedSecrets(row: ModelRow, keys: MasterKey[], identity: ModelIdentity): { apiKey?: string; config?: Config } | undefined {
  if (keys.length === 0) return undefined;
  const opened = (blob: string | null, column: 'encrypted_api_key' | 'encrypted_config') =>
    blob === null ? undefined : open(Buffer.from(blob, 'base64'), keys, secretBinding(identity, column));
  try {
    const secretConfig = opened(row.secret_config, 'encrypted_config');
    return { apiKey: opened(row.api_key, 'encrypted_api_key'), config: secretConfig === undefined ? undefined : (JSON.parse(secretConfig) as Config) };
  } catch (error) {
    if (error instanceof SecretError) return undefined;
    throw error;
  }
}

async function rewrite(client: SqlRunner, instanceName: string, columns: SealedColumns): Promise<void> {
  await client.query(
    `UPDATE ${MODELS} SET config = $2::pg_catalog.jsonb, bound_config = NULL, encrypted_api_key = pg_catalog.decode($3, 'base64'),
            encrypted_config = pg_catalog.decode($4, 'base64'), read_proof_sha256 = pg_catalog.decode($5, 'base64')
      WHERE instance_name OPERATOR(pg_catalog.=) $1`,
    [instanceName, JSON.stringify(columns.config), columns.encryptedApiKey, columns.encryptedConfig, columns.readProofDigest],
  );
}

/** Shows `shown`, keeping the config the row's secrets are bound to, and the credentials in it, in bound_config. */
async function keepAside(client: SqlRunner, instanceName: string, shown: Config): Promise<void> {
  await client.query(`UPDATE ${MODELS} SET bound_config = COALESCE(bound_config, config), config = $2::pg_catalog.jsonb WHERE instance_name OPERATOR(pg_catalog.=) $1`, [
    instanceName,
    JSON.stringify(shown),
  ]);
}
