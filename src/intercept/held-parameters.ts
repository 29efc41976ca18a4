// A Bind of a statement with parameters bound for secret arguments (src/sql/secret-parameters.ts), their values held:
// the server gets a reference in each one's place, as it does for a secret written out in a call, so neither its log
// of bind parameters nor the tables a collect pass fills (pg_temp.pg_llm_collected_calls, which a view's or a policy's
// code of another role reads in the same statement) keep the secret; the call gets it back when it reaches the proxy
// (literal-secrets.ts resolve). A config or URL without credentials is left as it is, and so is a reference.

import { FrontendMessage } from '../../proxy/protocol.js';
import { isSecret } from '../sql/secret-literals.js';
import type { SecretParameter } from '../sql/secret-parameters.js';
import { HeldValues } from './held-values.js';
import type { SessionLiteralSecrets } from './literal-secrets.js';

/** The version byte before a jsonb value in binary format. */
const JSONB_VERSION = 1;

/**
 * The Bind (`restOffset`: where its parameter section starts) with the secret parameters' values held; the same frame
 * when none is. Only a Bind that holds one is copied, once.
 */
export function heldBind(frame: Buffer, restOffset: number, parameters: SecretParameter[], secrets: SessionLiteralSecrets): Buffer {
  const formatCount = frame.readInt16BE(restOffset);
  // A negative count (a Bind the server refuses with 08P01) would point the reads below before the section.
  if (parameters.length === 0 || formatCount < 0) return frame;
  const formatOf = (number: number): number => (formatCount === 0 ? 0 : frame.readInt16BE(restOffset + 2 * (formatCount === 1 ? 1 : number)));
  let at = restOffset + 2 + 2 * formatCount;
  const count = frame.readInt16BE(at);
  at += 2;
  const pieces: Buffer[] = [];
  let copiedFrom = 1 + 4;
  for (let number = 1; number <= count; number++) {
    const length = frame.readInt32BE(at);
    const end = at + 4 + Math.max(length, 0);
    const parameter = length > 0 ? parameters.find((candidate) => candidate.number === number) : undefined;
    const held = parameter && heldValue(frame.subarray(at + 4, end), formatOf(number), parameter, secrets);
    if (held) {
      const heldLength = Buffer.alloc(4);
      heldLength.writeInt32BE(held.length);
      pieces.push(frame.subarray(copiedFrom, at), heldLength, held);
      copiedFrom = end;
    }
    at = end;
  }
  if (pieces.length === 0) return frame;
  pieces.push(frame.subarray(copiedFrom));
  const header = Buffer.alloc(5);
  header[0] = FrontendMessage.Bind;
  header.writeInt32BE(4 + pieces.reduce((sum, piece) => sum + piece.length, 0), 1);
  return Buffer.concat([header, ...pieces]);
}

/** The value to bind in a secret's place, or undefined to bind it as it is. */
function heldValue(value: Buffer, format: number, parameter: SecretParameter, secrets: SessionLiteralSecrets): Buffer | undefined {
  // jsonb's binary format is its text after a version byte; a text's, or json's, is the text itself.
  const versioned = parameter.json && format === 1 && value[0] === JSONB_VERSION;
  const text = value.toString('utf8', versioned ? 1 : 0);
  if (HeldValues.isReference(text) || !isSecret(parameter.kind, text)) return undefined;
  const reference = secrets.holdSecret(text, parameter.writtenFor);
  const written = Buffer.from(parameter.json ? JSON.stringify(reference) : reference, 'utf8');
  return versioned ? Buffer.concat([Buffer.of(JSONB_VERSION), written]) : written;
}
