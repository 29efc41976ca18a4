// Progress of a statement with many calls, as NOTICE lines: psql prints a NOTICE as it arrives, so a line now and
// then tells that a long statement is getting on (pg_llm.progress = off silences them).

import { noticeResponse } from '../../proxy/backend-write.js';
import type { SessionIo } from '../../proxy/interceptor.js';
import { PgError } from '../../proxy/pg-error.js';
import type { Progress } from './calls.js';

/** Statements with fewer calls finish too soon for progress lines to help. */
const PROGRESS_MIN_CALLS = 10;
const PROGRESS_INTERVAL_MS = 1000;

export function progressReporter(io: SessionIo): Progress {
  const started = Date.now();
  let reported = started;
  return (done, total) => {
    const now = Date.now();
    if (total < PROGRESS_MIN_CALLS || now - reported < PROGRESS_INTERVAL_MS) return;
    reported = now;
    const of = Number.isFinite(total) ? ` of ${total}` : '';
    const notice = new PgError('00000', `pg_llm: ${done}${of} calls done (${((now - started) / 1000).toFixed(1)} s)`, {
      hint: 'SET pg_llm.progress = off to silence these.',
    });
    io.writeToClient(noticeResponse(notice));
  };
}
