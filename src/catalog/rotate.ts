// Master-key rotation: the stored model secrets are opened with the keys that may have sealed them and sealed again
// with the new key. All of them in one transaction over locked rows, and only once every one has opened: a
// rotation that cannot finish leaves every blob as it was, so no secret ends up under a key nobody kept.

import { open, seal, sealedWith, SecretError, type MasterKey } from '../crypto/secrets.js';
import { inTransaction, installed, type SqlRunner } from './migrate.js';
import { MODELS } from './models.js';

const SEALED_COLUMNS = ['encrypted_api_key', 'encrypted_config'] as const;

export interface Rotation {
  /** Blobs sealed again with the new key. */
  resealed: number;
  /** Blobs the new key had sealed already (an earlier run, or a proxy already on the new key). */
  current: number;
}

type SealedRow = { instance_name: string } & Record<(typeof SEALED_COLUMNS)[number], string | null>;

export async function rotateMasterKey(client: SqlRunner, oldKeys: MasterKey[], newKey: MasterKey): Promise<Rotation> {
  if (!(await installed(client))) throw new Error('the pg_llm catalog is not installed in this database: there are no model secrets to rotate');
  return inTransaction(client, async () => {
    const { rows } = await client.query<SealedRow>(
      `SELECT instance_name, encode(encrypted_api_key, 'base64') AS encrypted_api_key, encode(encrypted_config, 'base64') AS encrypted_config
         FROM ${MODELS} WHERE encrypted_api_key IS NOT NULL OR encrypted_config IS NOT NULL
        ORDER BY instance_name FOR UPDATE`,
    );
    const resealed: Array<{ instance: string; column: (typeof SEALED_COLUMNS)[number]; blob: Buffer }> = [];
    const unopened = new Map<string, string>();
    let current = 0;
    for (const row of rows) {
      for (const column of SEALED_COLUMNS) {
        if (row[column] === null) continue;
        const blob = Buffer.from(row[column], 'base64');
        if (sealedWith(blob, newKey)) {
          current++;
          continue;
        }
        try {
          resealed.push({ instance: row.instance_name, column, blob: seal(open(blob, oldKeys), newKey) });
        } catch (error) {
          if (!(error instanceof SecretError)) throw error;
          unopened.set(row.instance_name, error.message);
        }
      }
    }
    if (unopened.size > 0) {
      const instances = [...unopened].map(([instance, reason]) => `model instance "${instance}" (${reason})`);
      throw new Error(`cannot open the secrets of ${instances.join(', ')} with the given master keys, so nothing was changed`);
    }
    for (const { instance, column, blob } of resealed) {
      await client.query(`UPDATE ${MODELS} SET ${column} = decode($2, 'base64') WHERE instance_name = $1`, [instance, blob.toString('base64')]);
    }
    return { resealed: resealed.length, current };
  });
}
