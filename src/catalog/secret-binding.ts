// What a model's sealed secrets are bound to (the AES-GCM associated data of its blobs): the database, the instance,
// its owner, and everything that decides where the secret is sent (the model type and the visible config, base_url
// included). A blob copied into another row, another database, or a row whose owner or target was changed by UPDATE
// no longer opens: moving a key anywhere takes registering it again, which takes knowing it.

import { createHash, createHmac } from 'node:crypto';
import type { MasterKey } from '../crypto/secrets.js';

/** The sealed columns of a model row; each blob is bound to its own column too, so the two cannot be swapped. */
export type SealedColumn = 'encrypted_api_key' | 'encrypted_config';

export interface ModelIdentity {
  database: string;
  instanceName: string;
  owner: string;
  modelType: string;
  /** The config as the row's config column holds it (secrets redacted), or its bound_config where it has one. */
  visibleConfig: unknown;
}

const PURPOSE = 'pg_llm model secret';

export function secretBinding(model: ModelIdentity, column: SealedColumn): Buffer {
  const { database, instanceName, owner, modelType, visibleConfig } = model;
  return Buffer.from(canonicalJson([PURPOSE, column, database, instanceName, owner, modelType, visibleConfig]), 'utf8');
}

const READ_PROOF = 'pg_llm sealed_model read proof';

/**
 * What the proxy shows sealed_model() to be handed a row's sealed secrets (0014_sealed_model_proof.sql): an HMAC of
 * the database's and the instance's names under the master key that sealed them, so that only a holder of that key
 * can read them at all. The database is in it because a role may own another database behind the same proxy, whose
 * catalog it controls: a sealed_model() of its own there sees the proofs the proxy sends for the names called there,
 * which must open nothing here.
 */
export function readProof(master: MasterKey, database: string, instanceName: string): Buffer {
  return createHmac('sha256', master.key).update(canonicalJson([READ_PROOF, database, instanceName]), 'utf8').digest();
}

/** What the catalog keeps of a row's read proof. */
export function readProofDigest(master: MasterKey, database: string, instanceName: string): Buffer {
  return createHash('sha256').update(readProof(master, database, instanceName)).digest();
}

/**
 * JSON with object keys sorted at every level: the config is sealed from the object the caller gave and opened from
 * what jsonb hands back (its own key order and spacing), and both must give the same bytes.
 */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, entry]) => entry !== undefined);
    entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([key, entry]) => `${JSON.stringify(key)}:${canonicalJson(entry)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}
