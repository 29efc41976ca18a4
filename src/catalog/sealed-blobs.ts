// The stored model secrets as a whole, for the two jobs that re-seal them in place: binding the blobs an earlier
// version sealed unbound (run by every catalog install and upgrade), and master-key rotation. Both run as the
// catalog's owner, in a transaction of the caller's, over locked rows.

import { isUnbound, openUnbound, seal, SecretError, type MasterKey } from '../crypto/secrets.js';
import type { SqlRunner } from './migrate.js';
import { MODELS } from './models.js';
import { secretBinding, type SealedColumn } from './secret-binding.js';

const SEALED_COLUMNS: readonly SealedColumn[] = ['encrypted_api_key', 'encrypted_config'];

export interface SealedBlob {
  instanceName: string;
  column: SealedColumn;
  blob: Buffer;
  /** What the blob is (or, if unbound, is to be) bound to: its row as it stands. */
  binding: Buffer;
}

type SealedRow = { instance_name: string; database: string; created_by: string; model_type: string; config: string } & Record<SealedColumn, string | null>;

/** Every sealed blob in the catalog, its row locked until the transaction ends. */
export async function sealedBlobs(client: SqlRunner): Promise<SealedBlob[]> {
  const { rows } = await client.query<SealedRow>(
    `SELECT instance_name, current_database() AS database, created_by, model_type, config::text AS config,
            encode(encrypted_api_key, 'base64') AS encrypted_api_key, encode(encrypted_config, 'base64') AS encrypted_config
       FROM ${MODELS} WHERE encrypted_api_key IS NOT NULL OR encrypted_config IS NOT NULL
      ORDER BY instance_name FOR UPDATE`,
  );
  return rows.flatMap((row) => {
    const identity = { database: row.database, instanceName: row.instance_name, owner: row.created_by, modelType: row.model_type, visibleConfig: JSON.parse(row.config) as unknown };
    return SEALED_COLUMNS.flatMap((column) => {
      const stored = row[column];
      return stored === null ? [] : [{ instanceName: row.instance_name, column, blob: Buffer.from(stored, 'base64'), binding: secretBinding(identity, column) }];
    });
  });
}

export async function replaceBlob(client: SqlRunner, sealed: SealedBlob, blob: Buffer): Promise<void> {
  await client.query(`UPDATE ${MODELS} SET ${sealed.column} = decode($2, 'base64') WHERE instance_name = $1`, [sealed.instanceName, blob.toString('base64')]);
}

/** An instance whose secrets stay unbound (and so unusable), and why; never the secret. */
export interface UnboundModel {
  instanceName: string;
  reason: string;
}

/**
 * Binds every unbound (v1) blob to its row, sealed again with the first key. Without a key, or with none that opens
 * a blob, its instance stays unbound and is reported: a call refuses it until it is bound or registered again, and
 * an upgrade is not held up by a model nobody can open.
 */
export async function bindUnboundSecrets(client: SqlRunner, keys: MasterKey[]): Promise<UnboundModel[]> {
  // A catalog installed only up to a level before its models has none to bind.
  const { rows } = await client.query<{ present: boolean | string }>(`SELECT to_regclass('${MODELS}') IS NOT NULL AS present`);
  if (rows[0]?.present !== true && rows[0]?.present !== 't') return [];
  const unbound = new Map<string, string>();
  const all = await sealedBlobs(client);
  for (const sealed of all.filter((candidate) => isUnbound(candidate.blob))) {
    if (keys.length === 0) {
      unbound.set(sealed.instanceName, 'no master key is configured');
      continue;
    }
    // Every sealing draws a fresh nonce, so a blob stored twice was copied: binding it would hand the copy the key.
    if (all.some((other) => other !== sealed && other.blob.equals(sealed.blob))) {
      unbound.set(sealed.instanceName, 'the same sealed value is stored in another model instance');
      continue;
    }
    try {
      await replaceBlob(client, sealed, seal(openUnbound(sealed.blob, keys), keys[0]!, sealed.binding));
    } catch (error) {
      if (!(error instanceof SecretError)) throw error;
      unbound.set(sealed.instanceName, error.message);
    }
  }
  return [...unbound].map(([instanceName, reason]) => ({ instanceName, reason }));
}
