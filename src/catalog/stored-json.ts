// JSON a role wrote into the catalog (an audit row's metadata, a trace's details, a session's state, a document's
// metadata), read back: any role may write rows of its own with any jsonb in them, and the proxy parses what it reads
// on the event loop every session shares. Reads are bounded in size (measured-read.ts); what is parsed of them is
// bounded in shape too (src/json-structure.ts), and a read of many rows parses them with turns of the event loop
// between them (mapWithTurns). In a read of records (the audit log, a trace), a value past the bounds is a note in its
// place: a role's own row must not hide every other row from whoever reads them all.

import { PgError, SqlState } from '../../proxy/pg-error.js';
import { EVENT_LOOP_JSON, jsonLimitsInWords, parseWithinLimits } from '../json-structure.js';

/** The value of JSON text read from the catalog, or, past the bounds, an object saying why it is not: `{ "pg_llm_unread": … }`. */
export function storedJsonOrNote(text: string, what: string): unknown {
  try {
    return storedJson(text, what);
  } catch (error) {
    if (error instanceof PgError) return { pg_llm_unread: error.message };
    throw error;
  }
}

/** The value of JSON text read from the catalog; `what` names it for the 54000 that refuses one past EVENT_LOOP_JSON. */
export function storedJson(text: string, what: string): unknown {
  return parseWithinLimits(text, EVENT_LOOP_JSON, (exceeded) => {
    return new PgError(SqlState.ProgramLimitExceeded, `${what} read from the catalog has ${exceeded}, more than the proxy parses`, {
      hint: `Read it with a SELECT of your own: the proxy parses no more than ${jsonLimitsInWords(EVENT_LOOP_JSON)}, which would hold up every session of the proxy.`,
    });
  });
}
