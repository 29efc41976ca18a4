// A count of a JSON text's structure, on its bytes, before it is parsed: parsing costs by the arrays, objects and
// values it makes (126 MB of `{},` took 4 GB and minutes), and a text a provider's answer has no need of is refused
// after one cheap pass instead. Strings are skipped whole, so a long text in an answer counts as one value.

import { PgError, SqlState } from '../../../proxy/pg-error.js';
import type { AnswerKind } from '../response-cap.js';

export interface StructureLimits {
  depth: number;
  containers: number;
  values: number;
}

/**
 * Far above what the APIs answer: a chat answer nests about 6 deep and, with 20 top log-probabilities for each of
 * 16k tokens, holds under a million arrays and objects; an embeddings answer may hold a batch of 2048 vectors of up
 * to 3072 (or a server's more) numbers each.
 */
export const STRUCTURE_LIMITS: Record<AnswerKind, StructureLimits> = {
  chat: { depth: 32, containers: 2_000_000, values: 4_000_000 },
  embedding: { depth: 32, containers: 2_000_000, values: 16_000_000 },
};

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const OPEN_ARRAY = 0x5b;
const OPEN_OBJECT = 0x7b;
const CLOSE_ARRAY = 0x5d;
const CLOSE_OBJECT = 0x7d;

/** Throws 54000 at the first limit the text exceeds; malformed text is left to the parser. */
export function checkStructure(text: Uint8Array, limits: StructureLimits): void {
  let depth = 0;
  let containers = 0;
  // Every value but the first of an array or object follows a comma.
  let commas = 0;
  for (let at = 0; at < text.length; at++) {
    switch (text[at]) {
      case QUOTE:
        for (at++; at < text.length && text[at] !== QUOTE; at++) if (text[at] === BACKSLASH) at++;
        break;
      case COMMA:
        if (++commas + containers >= limits.values) throw tooLarge(`more than ${limits.values} values`);
        break;
      case OPEN_ARRAY:
      case OPEN_OBJECT:
        if (++depth > limits.depth) throw tooLarge(`arrays and objects nested more than ${limits.depth} deep`);
        if (++containers > limits.containers) throw tooLarge(`more than ${limits.containers} arrays and objects`);
        break;
      case CLOSE_ARRAY:
      case CLOSE_OBJECT:
        depth--;
    }
  }
}

function tooLarge(what: string): PgError {
  return new PgError(SqlState.ProgramLimitExceeded, `the model provider's answer has ${what}`, {
    hint: "No provider's API answers like that: check the model's base_url. The proxy refuses such answers rather than parse them.",
  });
}
