// Model instances in the catalog: registered by pg_llm_add_model, read by every call. Secrets never reach the
// database in clear: the API key and the secret-bearing part of the config are sealed with the master key, bound to
// their row (secret-binding.ts), and the plaintext columns hold a redacted form.

import type { CallContext } from '../../functions/declaration.js';
import { PgError } from '../../proxy/pg-error.js';
import { holdsCredentials, visibleConfig as shownConfig } from '../crypto/config-secrets.js';
import { isUnbound, open, REDACTED, seal, SecretError, UnboundSecretError, type MasterKey } from '../crypto/secrets.js';
import { readProof, readProofDigest, secretBinding, type ModelIdentity, type SealedColumn } from './secret-binding.js';
import { storedJson } from './stored-json.js';
import { trustedOwner } from './trusted-owner.js';

export const MODELS = '_pg_llm_catalog.pg_llm_models';
/**
 * The most of a model's config (as JSON text) a call reads, which it parses on the event loop every session shares:
 * any role may write a row of its own of any size with INSERT, and a config names a server and its options.
 */
export const MAX_CONFIG_BYTES = 1024 * 1024;
/** Its sealed form, and a sealed key's: the config and what sealing adds to it. */
const MAX_SEALED_CONFIG_BYTES = MAX_CONFIG_BYTES + 1024;

/**
 * SQL: whether model row `m`'s config, the config its secrets are bound to (`boundConfig`, an expression) or a sealed
 * value is bigger than what is read of it. The server measures them where they are stored: a row's owner may write
 * them of any size, and whatever reads the row parses them on the event loop every session shares.
 */
export function oversizedModel(m: string, boundConfig = `${m}.bound_config`): string {
  const over = (size: string, bound: number) => `coalesce(${size}, 0) OPERATOR(pg_catalog.>) ${bound}`;
  return `(${over(`pg_catalog.octet_length(${m}.config::pg_catalog.text)`, MAX_CONFIG_BYTES)}
    OR ${over(`pg_catalog.octet_length((${boundConfig})::pg_catalog.text)`, MAX_CONFIG_BYTES)}
    OR ${over(`pg_catalog.octet_length(${m}.encrypted_config)`, MAX_SEALED_CONFIG_BYTES)}
    OR ${over(`pg_catalog.octet_length(${m}.encrypted_api_key)`, MAX_SEALED_CONFIG_BYTES)})`;
}
/** One model's row for any role, sealed columns only with a read proof (catalog-migrations/incremental/0014_sealed_model_proof.sql). */
const SEALED_MODEL = '_pg_llm_catalog.sealed_model';
const UNDEFINED_FUNCTION = '42883';
/** sealed_model() of a catalog before 0019_secrets_kept_to_their_owners.sql has no bound_config. */
const UNDEFINED_COLUMN = '42703';

export interface ModelInstance {
  instanceName: string;
  /** The role that registered it. */
  owner: string;
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

/** A model row's columns that hold or show its secrets, as pg_llm_add_model writes them; the binary ones in base64. */
export interface SealedColumns {
  /** The config as every role reads it: credentials redacted. */
  config: Record<string, unknown>;
  encryptedApiKey: string | null;
  /** The whole config, where it holds credentials. */
  encryptedConfig: string | null;
  readProofDigest: string | null;
}

/** Whether storing this config and key takes a master key. */
export function needsMasterKey(config: Record<string, unknown>, apiKey: string | null | undefined): boolean {
  return Boolean(apiKey) || holdsCredentials(config);
}

/**
 * The columns of the row `where` names for `config` and `apiKey`: the secrets sealed with `key` (which
 * needsMasterKey() says whether they need), bound to the row and the config it shows.
 */
export function sealedColumns(
  where: Omit<ModelIdentity, 'visibleConfig'>,
  config: Record<string, unknown>,
  apiKey: string | null | undefined,
  key: MasterKey | undefined,
): SealedColumns {
  const identity: ModelIdentity = { ...where, visibleConfig: shownConfig(config) };
  const sealed = (plaintext: string, column: SealedColumn) => seal(plaintext, key!, secretBinding(identity, column)).toString('base64');
  return {
    config: identity.visibleConfig as Record<string, unknown>,
    encryptedApiKey: apiKey ? sealed(apiKey, 'encrypted_api_key') : null,
    encryptedConfig: holdsCredentials(config) ? sealed(JSON.stringify(config), 'encrypted_config') : null,
    readProofDigest: needsMasterKey(config, apiKey) ? readProofDigest(key!, where.database, where.instanceName).toString('base64') : null,
  };
}

export async function saveModel(context: CallContext, model: NewModel): Promise<void> {
  const needsKey = needsMasterKey(model.config, model.apiKey);
  const [key] = needsKey ? await context.masterKeys() : [];
  if (needsKey && !key) {
    throw new PgError('55000', `cannot store the secrets of model instance "${model.instanceName}": no master key is configured`, {
      hint: 'Start the proxy with PG_LLM_MASTER_KEY (or --master-key), or SET pg_llm.master_key in this session.',
    });
  }
  // The row is written as current_user in current_database() (the policies refuse any other owner), so that is what
  // its secrets are bound to; replacing a model makes the replacing role its owner, as the key is now its.
  const [where] = await context.query('SELECT pg_catalog.current_database() AS database, current_user AS owner');
  const columns = sealedColumns({ database: where!.database!, owner: where!.owner!, instanceName: model.instanceName, modelType: model.modelType }, model.config, model.apiKey, key);
  if (Buffer.byteLength(JSON.stringify(model.config)) > MAX_CONFIG_BYTES) throw configTooLarge(model.instanceName);
  // The conflict branch repeats the parameters rather than read EXCLUDED: that would take SELECT on the sealed columns.
  await context.query(
    `INSERT INTO ${MODELS} (instance_name, model_type, local_model, api_key, config, encrypted_api_key, encrypted_config, read_proof_sha256)
     VALUES ($1, $2, $3, $4, $5::pg_catalog.jsonb, pg_catalog.decode($6, 'base64'), pg_catalog.decode($7, 'base64'), pg_catalog.decode($8, 'base64'))
     ON CONFLICT (instance_name) DO UPDATE SET model_type = $2, local_model = $3, api_key = $4, config = $5::pg_catalog.jsonb,
       encrypted_api_key = pg_catalog.decode($6, 'base64'), encrypted_config = pg_catalog.decode($7, 'base64'),
       read_proof_sha256 = pg_catalog.decode($8, 'base64'), bound_config = NULL, created_by = current_user, updated_at = pg_catalog.now()`,
    [
      model.instanceName,
      model.modelType,
      String(model.local),
      model.apiKey ? REDACTED : null,
      JSON.stringify(columns.config),
      columns.encryptedApiKey,
      columns.encryptedConfig,
      columns.readProofDigest,
    ],
  );
}

/** Marked deleted, the catalog's way to delete (incremental/0018_no_table_locks.sql): only a model the caller may change goes. */
export async function removeModel(context: CallContext, instanceName: string): Promise<boolean> {
  const rows = await context.query(`UPDATE ${MODELS} SET deleted = true WHERE instance_name OPERATOR(pg_catalog.=) $1 RETURNING 1 AS removed`, [instanceName]);
  return rows.length > 0;
}

/** What reading a model needs: a call's context, or the worker's own connection and keys. */
export type ModelSource = Pick<CallContext, 'query' | 'masterKeys' | 'database'>;

/**
 * Where a model instance's name was written by a role other than the caller naming it in its call: a model's
 * fallback_instance, a pg_llm setting, an llm.call trigger. Such a name is resolved only among the models the role
 * that wrote it, the catalog's owner or admin_role's members registered: any role may register a free name on a
 * server of its own, and must not receive the prompts of calls whose caller never named it.
 */
export interface Reference {
  /** The role that wrote the name; null: the session's current_user. */
  role: string | null;
  /** Where, for the error: `model instance "main"'s fallback_instance`. */
  source: string;
}

/**
 * The read of a model's row as loadModel asks it, through sealed_model(): a role may use every model, but reads no
 * sealed column of a row it does not own, and the sealed columns only with a proof of holding the key that sealed
 * them. One proof per key the session may use.
 */
export function modelRowQuery(keys: MasterKey[], database: string, instanceName: string, reference?: Reference): { sql: string; parameters: Array<string | null> } {
  const proofs = `{${keys.map((key) => `"\\\\x${readProof(key, database, instanceName).toString('hex')}"`).join(',')}}`;
  const referrer = 'coalesce($3::pg_catalog.name, current_user)';
  // A config (or its key) over the bound is not sent at all: the server measures it, in the caller's backend.
  const kept = (column: string) => `CASE WHEN NOT size.oversized THEN ${column} END`;
  return {
    sql: `SELECT database, pg_catalog.current_database() AS current_database, model_type, local_model, created_by,
              ${kept('config::pg_catalog.text')} AS config, proof_recorded, ${kept("pg_catalog.encode(encrypted_api_key, 'base64')")} AS api_key,
              ${kept("pg_catalog.encode(encrypted_config, 'base64')")} AS secret_config, ${kept('bound_config::pg_catalog.text')} AS bound_config, size.oversized
              ${reference ? `, ${trustedOwner('created_by', referrer)} AS trusted, ${referrer} AS referrer` : ''}
         FROM ${SEALED_MODEL}($1, $2::pg_catalog.bytea[]) AS m CROSS JOIN LATERAL (SELECT ${oversizedModel('m')} AS oversized) AS size`,
    parameters: reference ? [instanceName, proofs, reference.role] : [instanceName, proofs],
  };
}

export async function loadModel(context: ModelSource, instanceName: string, reference?: Reference): Promise<ModelInstance> {
  const [keys, database] = await Promise.all([context.masterKeys(), context.database()]);
  const { sql, parameters } = modelRowQuery(keys, database, instanceName, reference);
  const [row] = await context
    .query(sql, parameters)
    .catch((error: unknown) => {
      if (!(error instanceof PgError) || (error.sqlstate !== UNDEFINED_FUNCTION && error.sqlstate !== UNDEFINED_COLUMN)) throw error;
      throw new PgError('55000', 'the pg_llm catalog of this database is older than this proxy', {
        hint: 'Upgrade it: ALTER EXTENSION pg_llm UPDATE through the proxy, or pg-llm-proxy migrate --database-url URL.',
      });
    });
  if (!row) {
    throw new PgError('42704', `model instance "${instanceName}" does not exist`, {
      hint: 'Register it with pg_llm_add_model(local_model, model_type, instance_name, api_key, config).',
    });
  }
  // The catalog of a database its owner controls could claim a row of another database, to have that row's key used
  // from this one: a secret is opened for the database this session is in, never on the catalog's word.
  if (row.database !== row.current_database) {
    throw new PgError('28000', `model instance "${instanceName}" is reported to belong to database "${row.database}", not to this one`, {
      hint: 'The catalog of this database was changed by hand: _pg_llm_catalog.sealed_model() must be the one the pg_llm catalog installs.',
    });
  }
  if (reference && row.trusted !== 't') throw untrusted(instanceName, row.created_by!, row.referrer!, reference.source);
  if (row.oversized === 't') throw configTooLarge(instanceName);
  // The config the secrets are bound to: the one shown, but for a row registered when configs showed the last
  // characters of their secrets, which keeps that config aside (0019_secrets_kept_to_their_owners.sql). It is also
  // the config used when no secret one is sealed, so that where the key goes is what it is bound to.
  const visibleConfig = storedJson(row.bound_config ?? row.config ?? '{}', `the config of model instance "${instanceName}"`) as Record<string, unknown>;
  const identity: ModelIdentity = { database: row.database!, owner: row.created_by!, instanceName, modelType: row.model_type!, visibleConfig };
  const opened = async (blob: string | null, column: SealedColumn): Promise<string | undefined> => {
    if (!blob) return undefined;
    const sealed = Buffer.from(blob, 'base64');
    if (sealed.length === 1 && !isUnbound(sealed)) throw withheld(instanceName, row.proof_recorded === 't');
    try {
      return open(sealed, keys, secretBinding(identity, column));
    } catch (error) {
      if (!(error instanceof SecretError)) throw error;
      throw new PgError('28000', `cannot open the secrets of model instance "${instanceName}": ${error.message}`, {
        hint:
          error instanceof UnboundSecretError
            ? 'Bind them to their model: ALTER EXTENSION pg_llm UPDATE through the proxy (or pg-llm-proxy migrate) with the master key configured; or register the model again with pg_llm_add_model.'
            : 'Configure the master key the model was registered with (PG_LLM_MASTER_KEY, PG_LLM_PREVIOUS_MASTER_KEYS or SET pg_llm.master_key). A model whose owner, type or config was changed by hand must be registered again with pg_llm_add_model.',
      });
    }
  };
  const secretConfig = await opened(row.secret_config ?? null, 'encrypted_config');
  return {
    instanceName,
    owner: row.created_by!,
    modelType: row.model_type!,
    local: row.local_model === 't',
    config: secretConfig === undefined ? visibleConfig : (JSON.parse(secretConfig) as Record<string, unknown>),
    apiKey: await opened(row.api_key ?? null, 'encrypted_api_key'),
  };
}

function configTooLarge(instanceName: string): PgError {
  return new PgError('54000', `the config of model instance "${instanceName}" is larger than the proxy reads (${MAX_CONFIG_BYTES} bytes as JSON text)`, {
    hint: 'A model\'s config names its server and options; register the model again with pg_llm_add_model and a smaller one.',
  });
}

function untrusted(instanceName: string, owner: string, referrer: string, source: string): PgError {
  return new PgError('42501', `model instance "${instanceName}", named by ${source}, was registered by role "${owner}", not by "${referrer}", the catalog's owner or a member of admin_role`, {
    hint: `A name written for calls made on another's behalf is resolved only among the models its writer, the catalog's owner or admin_role's members registered. Register "${instanceName}" as "${referrer}" (after its owner removes it), or name another instance there.`,
  });
}

/** sealed_model() handed out a bound blob's version byte alone: none of the proofs sent is the one its row records. */
function withheld(instanceName: string, proofRecorded: boolean): PgError {
  if (!proofRecorded) {
    return new PgError('28000', `cannot open the secrets of model instance "${instanceName}": they were sealed by an earlier version, and no catalog upgrade has recorded their read proof`, {
      hint: 'Upgrade the catalog with the master key configured: ALTER EXTENSION pg_llm UPDATE through the proxy, or pg-llm-proxy migrate; or register the model again with pg_llm_add_model.',
    });
  }
  return new PgError('28000', `cannot open the secrets of model instance "${instanceName}": none of the configured master keys sealed them`, {
    hint: 'Configure the master key the model was registered with (PG_LLM_MASTER_KEY, PG_LLM_PREVIOUS_MASTER_KEYS or SET pg_llm.master_key).',
  });
}

/**
 * The model instances a call may ask without naming them, and which are marked as local fallbacks: the caller's own
 * and those of the catalog's owner and of admin_role's members. Any role may register a model on a server of its
 * own, so one nobody named must not receive another role's prompt.
 */
export async function listModels(context: CallContext): Promise<Array<{ instanceName: string; isLocalFallback: boolean }>> {
  const rows = await context.query(
    `SELECT m.instance_name, coalesce(m.config OPERATOR(pg_catalog.->>) 'is_local_fallback', 'false') AS is_local_fallback
       FROM ${MODELS} m
      WHERE ${trustedOwner('m.created_by', 'current_user')}
      ORDER BY m.instance_name`,
  );
  return rows.map((row) => ({ instanceName: row.instance_name!, isLocalFallback: row.is_local_fallback === 'true' }));
}
