// Master-key rotation: the stored model secrets are opened with the keys given and sealed again with the new key,
// each bound to its row (an unbound blob of an earlier version is bound by it, if it may be). All of them in one
// transaction over locked rows: a rotation that cannot finish leaves every blob as it was.
//
// A blob none of the given keys opens is left as it is, with its row's read proof, and reported: it was sealed with a
// key of the role's own (SET pg_llm.master_key), or is bytes a role wrote that open with nothing. Every role may
// write its own rows' blobs, so failing the rotation on such a blob would let any role keep the operator from
// rotating. Which key opens a blob is found by opening it with each, never taken from the key id its header names:
// that id is not authenticated, so a role could make a blob the old key sealed name another key, or the new one.

import { isUnbound, knownFormat, namesAnyOf, openWithAny, seal, sealedWith, type MasterKey } from '../crypto/secrets.js';
import { inTransaction, installed, type SqlRunner } from './migrate.js';
import { refuseWeakerOwner } from './owner-rights.js';
import type { SealedColumn } from './secret-binding.js';
import { oversizedModels, readProofsBegun, recordReadProof, replaceBlob, sealedBlobs, type SealedBlob } from './sealed-blobs.js';

export interface Rotation {
  /** Blobs sealed again with the new key. */
  resealed: number;
  /** Blobs the new key had sealed already (an earlier run, or a proxy already on the new key). */
  current: number;
  /** Blobs left as they were, and why; never any part of a secret or a key. */
  left: LeftSecret[];
}

export interface LeftSecret {
  instanceName: string;
  owner: string;
  column: SealedColumn;
  reason: string;
}

export async function rotateMasterKey(client: SqlRunner, oldKeys: MasterKey[], newKey: MasterKey): Promise<Rotation> {
  if (!(await installed(client))) throw new Error('the pg_llm catalog is not installed in this database: there are no model secrets to rotate');
  await refuseWeakerOwner(client);
  if (!(await readProofsBegun(client))) throw new Error('the pg_llm catalog of this database is older than this proxy: upgrade it first (pg-llm-proxy migrate)');
  const keys = [newKey, ...oldKeys];
  return inTransaction(client, async () => {
    const resealed: Array<{ sealed: SealedBlob; blob: Buffer }> = [];
    const left: LeftSecret[] = [];
    /** The rows with a blob no given key opens: they keep their read proof. */
    const unopened = new Set<string>();
    let current = 0;
    const blobs = await sealedBlobs(client);
    for (const sealed of blobs) {
      const { instanceName, owner, column } = sealed;
      if (sealed.unbindable) {
        // Refused by every call whatever its key, and no row may take it: nothing to keep it usable for.
        left.push({ instanceName, owner, column, reason: `an unbound secret of an earlier version that no call uses (${sealed.unbindable}): register the model again, or remove it` });
        continue;
      }
      const opened = openWithAny(sealed.blob, keys, sealed.binding);
      if (!opened) {
        unopened.add(instanceName);
        left.push({ instanceName, owner, column, reason: whyUnopened(sealed.blob, keys) });
      } else if (opened.key === newKey && sealedWith(sealed.blob, newKey) && !isUnbound(sealed.blob)) {
        current++;
      } else {
        resealed.push({ sealed, blob: seal(opened.plaintext, newKey, sealed.binding) });
      }
    }
    for (const { sealed, blob } of resealed) await replaceBlob(client, sealed, blob);
    // Every usable row's secrets are the new key's now: only its holders may read them.
    const usable = new Map(blobs.filter((sealed) => !sealed.unbindable && !unopened.has(sealed.instanceName)).map((sealed) => [sealed.instanceName, sealed.database]));
    for (const [instanceName, database] of usable) await recordReadProof(client, database, instanceName, newKey);
    // Rows too big to read are not among the blobs: left as they are, with their read proofs.
    for (const { instanceName, owner, sealed, reason } of await oversizedModels(client)) left.push(...sealed.map((column) => ({ instanceName, owner, column, reason })));
    return { resealed: resealed.length, current, left };
  });
}

function whyUnopened(blob: Buffer, keys: MasterKey[]): string {
  if (!knownFormat(blob)) return 'it is not a sealed secret in any format this version reads';
  if (namesAnyOf(blob, keys)) return 'it names one of the given master keys but does not open with it for its row: copied from another row, or its bytes or its row were changed after it was sealed';
  return "it was sealed with a master key not given to the rotation: one of its owner's own (SET pg_llm.master_key), or an earlier key";
}
