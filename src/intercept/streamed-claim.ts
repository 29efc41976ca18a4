// Whether the engine would claim a Query or Parse too big to hold, judged as it streams through the proxy: the same
// tests as InterceptionEngine.claims (mentionsFunction, the cursor and deallocation commands, psql's extension
// listing, a Parse over a statement the engine knows), run on each piece as it comes. Past MAX_PARSE_BYTES the engine
// could only refuse such a statement unparsed (TooBigToParse), so nothing is lost by not holding it: the proxy has
// the server refuse it in its place (proxy/statement-relay.ts).

import type { StatementWatch } from '../../proxy/interceptor.js';
import { FrontendMessage } from '../../proxy/protocol.js';
import { MAX_PARSE_BYTES, TooBigToParse } from '../sql/parse-task.js';
import { StatementScan } from './statement-scan.js';

/**
 * Messages longer than this are relayed as they come: their text is past MAX_PARSE_BYTES even after a Parse's
 * statement name (up to what the relay keeps of it) and parameter types.
 */
export const STREAMED_FROM = MAX_PARSE_BYTES + 1024 * 1024;

/** What the engine knows that a claim depends on, as it is when the statement starts. */
export interface ClaimState {
  cursorsOpen: boolean;
  tracksStatements: boolean;
  knowsStatement(name: string): boolean;
  /** Whether the proxy reads each Bind of the statement (for secrets bound, or a server setting's URL). */
  readsBindsOf(name: string): boolean;
  forgetStatement(name: string): void;
}

export class StreamedClaim implements StatementWatch {
  private readonly scan: StatementScan;

  constructor(
    private readonly type: number,
    private readonly state: ClaimState,
  ) {
    const query = type === FrontendMessage.Query;
    this.scan = new StatementScan({ cursor: state.cursorsOpen, deallocating: query && state.tracksStatements, resetting: false });
  }

  read(bytes: Buffer, sql: boolean): void {
    this.scan.read(bytes, sql);
  }

  end(statement: string | undefined, sqlBytes: number): TooBigToParse | undefined {
    const { state } = this;
    const scanned = this.scan.end();
    let claimed = scanned.mentionsFunction || (scanned.cursorCommand ?? false);
    if (this.type === FrontendMessage.Query) claimed ||= scanned.listing || (scanned.deallocating ?? false);
    else {
      claimed ||= statement === undefined || (state.tracksStatements && statement !== '' && state.knowsStatement(statement));
      // The unnamed statement is replaced by every unnamed Parse, so one too big to parse goes to the server, but not
      // over one whose Binds the proxy reads: the server skips a Parse after an error earlier in the pipeline, and
      // forgotten, the statement it keeps would be bound unread (review Q).
      claimed ||= statement === '' && state.readsBindsOf('');
      // A Parse the server runs drops the statement it names, the unnamed one whatever becomes of it; one the relay
      // spoils never runs there, so the old one stays, as for a Parse the engine refuses (handleParse).
      if (statement !== undefined && !claimed) state.forgetStatement(statement);
    }
    return claimed ? new TooBigToParse(sqlBytes) : undefined;
  }
}
