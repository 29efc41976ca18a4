// A count of a provider's answer's structure before it is parsed (src/json-structure.ts): parsing costs by the
// arrays, objects and values it makes (126 MB of `{},` took 4 GB and minutes), and a text a provider's answer has no
// need of is refused after one cheap pass instead. A worker thread parses answers, so these limits are wider than
// those of JSON parsed on the event loop.

import { PgError, SqlState } from '../../../proxy/pg-error.js';
import { exceededJsonLimit, type JsonLimits } from '../../json-structure.js';
import type { AnswerKind } from '../response-cap.js';

/**
 * Far above what the APIs answer: a chat answer nests about 6 deep and, with 20 top log-probabilities for each of
 * 16k tokens, holds under a million arrays and objects; an embeddings answer may hold a batch of 2048 vectors of up
 * to 3072 (or a server's more) numbers each.
 */
export const STRUCTURE_LIMITS: Record<AnswerKind, JsonLimits> = {
  chat: { depth: 32, containers: 2_000_000, values: 4_000_000, members: 4_000_000 },
  embedding: { depth: 32, containers: 2_000_000, values: 16_000_000, members: 16_000_000 },
};

/** Throws 54000 at the first limit the text exceeds; malformed text is left to the parser. */
export function checkStructure(text: string, limits: JsonLimits): void {
  const exceeded = exceededJsonLimit(text, limits);
  if (exceeded !== undefined) throw tooLarge(exceeded);
}

function tooLarge(what: string): PgError {
  return new PgError(SqlState.ProgramLimitExceeded, `the model provider's answer has ${what}`, {
    hint: "No provider's API answers like that: check the model's base_url. The proxy refuses such answers rather than parse them.",
  });
}
