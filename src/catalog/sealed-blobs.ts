// The stored model secrets as a whole, for the jobs that re-seal them in place: binding the blobs an earlier version
// sealed unbound and recording the read proofs of rows sealed before proofs existed (both run by every catalog
// install and upgrade), and master-key rotation. All run as the catalog's owner, in a transaction of the caller's,
// over locked rows. A row whose config or secrets are bigger than a call reads (models.ts, oversizedModel) is left as
// it is, none of it sent: any role may write such a row, and an install through the proxy parses what it reads on
// the event loop every session shares. Calls refuse it, and oversizedModels() names it.

import { isUnbound, reseal, sealedWith, SecretError, type MasterKey } from '../crypto/secrets.js';
import type { SqlRunner } from './migrate.js';
import { MAX_CONFIG_BYTES, MODELS, oversizedModel } from './models.js';
import { readProofDigest, secretBinding, type SealedColumn } from './secret-binding.js';

/** The unbound blobs the catalog held when it began binding them (0007_model_secrets.sql): the only bindable ones. */
const UNBOUND_SECRETS = '_pg_llm_catalog.pg_llm_unbound_secrets';

export interface SealedBlob {
  database: string;
  instanceName: string;
  /** The role that registered the row (created_by). */
  owner: string;
  column: SealedColumn;
  blob: Buffer;
  /** What the blob is (or, if unbound, is to be) bound to: its row as it stands. */
  binding: Buffer;
  /** Why an unbound blob may never be bound to its row, if it may not: it would hand the row a key not its own. */
  unbindable?: string;
}

/**
 * SQL: the config the blobs of row m are bound to (models.ts, loadModel): bound_config where a catalog upgrade kept
 * it, else the one shown. A catalog installed only up to a level before 0019 has no such column.
 */
async function boundConfig(client: SqlRunner): Promise<string> {
  return (await modelsHaveColumn(client, 'bound_config')) ? `COALESCE(NULLIF(m.bound_config, 'null'::pg_catalog.jsonb), m.config)` : 'm.config';
}

/** Why a model row too big to read is left as it is. */
const OVERSIZED = `its config or a sealed secret is larger than the proxy reads (${MAX_CONFIG_BYTES} bytes as JSON text): calls refuse it`;

/** A model row too big to read, and which of its columns hold sealed blobs. */
export interface OversizedModel {
  instanceName: string;
  owner: string;
  sealed: SealedColumn[];
  reason: string;
}

/** The model rows too big to read, which every job here leaves as they are; nothing of their config or secrets is sent. */
export async function oversizedModels(client: SqlRunner): Promise<OversizedModel[]> {
  // A catalog installed only up to level 0 has no models.
  if (!(await modelsHaveColumn(client, 'config'))) return [];
  const { rows } = await client.query<{ instance_name: string; created_by: string; column_name: SealedColumn | null }>(
    `SELECT m.instance_name, m.created_by, sealed.column_name
       FROM ${MODELS} m
            LEFT JOIN LATERAL (VALUES ('encrypted_api_key', m.encrypted_api_key), ('encrypted_config', m.encrypted_config)) AS sealed (column_name, blob)
              ON sealed.blob IS NOT NULL
      WHERE ${oversizedModel('m', await boundConfig(client))}
      ORDER BY m.instance_name, sealed.column_name`,
  );
  const models = new Map<string, OversizedModel>();
  for (const row of rows) {
    const model = models.get(row.instance_name) ?? { instanceName: row.instance_name, owner: row.created_by, sealed: [], reason: OVERSIZED };
    if (row.column_name !== null) model.sealed.push(row.column_name);
    models.set(row.instance_name, model);
  }
  return [...models.values()];
}

type SealedRow = { instance_name: string; database: string; created_by: string; model_type: string; config: string; column_name: SealedColumn; blob: string; copied: boolean | string | null };

/**
 * Every sealed blob in the catalog, its row locked until the transaction ends. An unbound blob is bindable only where
 * the catalog held it when it began binding, and only if it was not stored twice then.
 */
export async function sealedBlobs(client: SqlRunner): Promise<SealedBlob[]> {
  const bound = await boundConfig(client);
  const { rows } = await client.query<SealedRow>(
    `SELECT m.instance_name, pg_catalog.current_database() AS database, m.created_by, m.model_type, (${bound})::pg_catalog.text AS config,
            sealed.column_name, pg_catalog.encode(sealed.blob, 'base64') AS blob, held.copied
       FROM ${MODELS} m
            CROSS JOIN LATERAL (VALUES ('encrypted_api_key', m.encrypted_api_key), ('encrypted_config', m.encrypted_config)) AS sealed (column_name, blob)
            LEFT JOIN ${UNBOUND_SECRETS} held
              ON held.instance_name OPERATOR(pg_catalog.=) m.instance_name AND held.column_name OPERATOR(pg_catalog.=) sealed.column_name
             AND held.sha256 OPERATOR(pg_catalog.=) pg_catalog.sha256(sealed.blob)
      WHERE sealed.blob IS NOT NULL AND NOT ${oversizedModel('m', bound)}
      ORDER BY m.instance_name, sealed.column_name FOR UPDATE OF m`,
  );
  return rows.map((row) => {
    const identity = { database: row.database, instanceName: row.instance_name, owner: row.created_by, modelType: row.model_type, visibleConfig: JSON.parse(row.config) as unknown };
    const blob = Buffer.from(row.blob, 'base64');
    const sealed: SealedBlob = { database: row.database, instanceName: row.instance_name, owner: row.created_by, column: row.column_name, blob, binding: secretBinding(identity, row.column_name) };
    if (isUnbound(blob)) sealed.unbindable = unbindable(row.copied);
    return sealed;
  });
}

function unbindable(copied: boolean | string | null): string | undefined {
  if (copied === null) return 'it was stored after the catalog began binding secrets, so not by an earlier version';
  if (copied === true || copied === 't') return 'the same sealed value was stored in another model instance';
  return undefined;
}

export async function replaceBlob(client: SqlRunner, sealed: SealedBlob, blob: Buffer): Promise<void> {
  await client.query(`UPDATE ${MODELS} SET ${sealed.column} = pg_catalog.decode($2, 'base64') WHERE instance_name OPERATOR(pg_catalog.=) $1`, [sealed.instanceName, blob.toString('base64')]);
}

/** Whether the catalog has begun binding secrets (0007_model_secrets.sql): before it, nothing may be bound. */
export async function bindingBegun(client: SqlRunner): Promise<boolean> {
  const { rows } = await client.query<{ begun: boolean | string }>(`SELECT pg_catalog.to_regclass('${UNBOUND_SECRETS}') IS NOT NULL AS begun`);
  return rows[0]?.begun === true || rows[0]?.begun === 't';
}

/** An instance whose secrets stay unusable (unbound, or with no read proof recorded), and why; never the secret. */
export interface UnusableModel {
  instanceName: string;
  reason: string;
}

/**
 * Binds every bindable unbound (v1) blob to its row, sealed again with the first key. Without a key, or with none
 * that opens a blob, its instance stays unbound and is reported, as is every unbindable blob: a call refuses it until
 * it is bound or registered again, and an upgrade is not held up by a model nobody can open.
 */
export async function bindUnboundSecrets(client: SqlRunner, keys: MasterKey[]): Promise<UnusableModel[]> {
  // A catalog installed only up to a level before binding began has none to bind.
  if (!(await bindingBegun(client))) return [];
  const unbound = new Map<string, string>();
  for (const sealed of await sealedBlobs(client)) {
    if (!isUnbound(sealed.blob)) continue;
    if (sealed.unbindable || keys.length === 0) {
      unbound.set(sealed.instanceName, sealed.unbindable ?? 'no master key is configured');
      continue;
    }
    try {
      await replaceBlob(client, sealed, reseal(sealed.blob, keys, keys[0]!, sealed.binding));
    } catch (error) {
      if (!(error instanceof SecretError)) throw error;
      unbound.set(sealed.instanceName, error.message);
    }
  }
  return [...unbound].map(([instanceName, reason]) => ({ instanceName, reason }));
}

/** Whether the catalog's models have `column`: one installed only up to an earlier level may not. */
export async function modelsHaveColumn(client: SqlRunner, column: string): Promise<boolean> {
  const { rows } = await client.query<{ found: boolean | string }>(
    `SELECT EXISTS (SELECT FROM pg_catalog.pg_attribute WHERE attrelid OPERATOR(pg_catalog.=) pg_catalog.to_regclass('${MODELS}')
                       AND attname OPERATOR(pg_catalog.=) $1 AND NOT attisdropped) AS found`,
    [column],
  );
  return rows[0]?.found === true || rows[0]?.found === 't';
}

/** Whether the catalog keeps read proofs (0014_sealed_model_proof.sql): before it, there is nowhere to record one. */
export function readProofsBegun(client: SqlRunner): Promise<boolean> {
  return modelsHaveColumn(client, 'read_proof_sha256');
}

/** Records that `key` sealed the instance's secrets: from now on only a holder of it reads them (sealed_model()). */
export async function recordReadProof(client: SqlRunner, database: string, instanceName: string, key: MasterKey): Promise<void> {
  await client.query(`UPDATE ${MODELS} SET read_proof_sha256 = pg_catalog.decode($2, 'base64') WHERE instance_name OPERATOR(pg_catalog.=) $1`, [
    instanceName,
    readProofDigest(key, database, instanceName).toString('base64'),
  ]);
}

/**
 * Records the read proof of every row whose bound secrets have none (sealed before proofs existed, or bound just
 * now), with the configured key that sealed them. A row no configured key sealed is reported: sealed_model() hands
 * its secrets to nobody until an upgrade with that key records its proof.
 */
export async function recordMissingReadProofs(client: SqlRunner, keys: MasterKey[]): Promise<UnusableModel[]> {
  if (!(await readProofsBegun(client))) return [];
  const { rows } = await client.query<{ database: string; instance_name: string; blob: string }>(
    `SELECT pg_catalog.current_database() AS database, m.instance_name, pg_catalog.encode(COALESCE(m.encrypted_api_key, m.encrypted_config), 'base64') AS blob
       FROM ${MODELS} m
      WHERE m.read_proof_sha256 IS NULL AND COALESCE(m.encrypted_api_key, m.encrypted_config) IS NOT NULL AND NOT ${oversizedModel('m', await boundConfig(client))}
      ORDER BY m.instance_name FOR UPDATE OF m`,
  );
  const unusable: UnusableModel[] = [];
  for (const row of rows) {
    const blob = Buffer.from(row.blob, 'base64');
    if (isUnbound(blob)) continue; // reported by bindUnboundSecrets
    const key = keys.find((candidate) => sealedWith(blob, candidate));
    if (key) await recordReadProof(client, row.database, row.instance_name, key);
    else unusable.push({ instanceName: row.instance_name, reason: keys.length ? 'none of the configured master keys sealed it' : 'no master key is configured' });
  }
  return unusable;
}
