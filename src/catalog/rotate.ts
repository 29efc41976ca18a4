// Master-key rotation: the stored model secrets are opened with the keys that may have sealed them and sealed again
// with the new key, each bound to its row (an unbound blob of an earlier version is bound by it, if it may be). All of
// them in one transaction over locked rows, and only once every one has opened: a rotation that cannot finish leaves
// every blob as it was, so no secret ends up under a key nobody kept.

import { reseal, sealedWith, SecretError, type MasterKey } from '../crypto/secrets.js';
import { inTransaction, installed, type SqlRunner } from './migrate.js';
import { refuseWeakerOwner } from './owner-rights.js';
import { readProofsBegun, recordReadProof, replaceBlob, sealedBlobs, type SealedBlob } from './sealed-blobs.js';

export interface Rotation {
  /** Blobs sealed again with the new key. */
  resealed: number;
  /** Blobs the new key had sealed already (an earlier run, or a proxy already on the new key). */
  current: number;
}

export async function rotateMasterKey(client: SqlRunner, oldKeys: MasterKey[], newKey: MasterKey): Promise<Rotation> {
  if (!(await installed(client))) throw new Error('the pg_llm catalog is not installed in this database: there are no model secrets to rotate');
  await refuseWeakerOwner(client);
  if (!(await readProofsBegun(client))) throw new Error('the pg_llm catalog of this database is older than this proxy: upgrade it first (pg-llm-proxy migrate)');
  return inTransaction(client, async () => {
    const resealed: Array<{ sealed: SealedBlob; blob: Buffer }> = [];
    const unopened = new Map<string, string>();
    let current = 0;
    const blobs = await sealedBlobs(client);
    for (const sealed of blobs) {
      if (sealedWith(sealed.blob, newKey)) {
        current++;
        continue;
      }
      // Refused by every call whatever its key, and no row may take it: nothing to keep it usable for.
      if (sealed.unbindable) continue;
      try {
        resealed.push({ sealed, blob: reseal(sealed.blob, oldKeys, newKey, sealed.binding) });
      } catch (error) {
        if (!(error instanceof SecretError)) throw error;
        unopened.set(sealed.instanceName, error.message);
      }
    }
    if (unopened.size > 0) {
      const instances = [...unopened].map(([instance, reason]) => `model instance "${instance}" (${reason})`);
      throw new Error(`cannot open the secrets of ${instances.join(', ')} with the given master keys, so nothing was changed`);
    }
    for (const { sealed, blob } of resealed) await replaceBlob(client, sealed, blob);
    // Every usable row's secrets are the new key's now: only its holders may read them.
    const usable = new Map(blobs.filter((sealed) => !sealed.unbindable).map((sealed) => [sealed.instanceName, sealed.database]));
    for (const [instanceName, database] of usable) await recordReadProof(client, database, instanceName, newKey);
    return { resealed: resealed.length, current };
  });
}
