// Whether the engine would claim a Query or Parse too big to hold, judged as it streams through the proxy: the same
// tests as InterceptionEngine.claims (mentionsFunction, the cursor and deallocation commands, psql's extension
// listing, a Parse over a statement the engine knows), run on each piece as it comes. Past MAX_PARSE_BYTES the engine
// could only refuse such a statement unparsed (TooBigToParse), so nothing is lost by not holding it: the proxy has
// the server refuse it in its place (proxy/statement-relay.ts).

import type { StatementWatch } from '../../proxy/interceptor.js';
import { FrontendMessage } from '../../proxy/protocol.js';
import type { IdentifierScanner } from '../sql/identifiers.js';
import { MAX_PARSE_BYTES, TooBigToParse } from '../sql/parse-task.js';
import { mentionsMasterKey } from '../sql/master-key-statements.js';
import { CURSOR_COMMANDS, DEALLOCATING_COMMANDS, watchedNames } from './analyze.js';
import { LISTING_MARKER } from './extension-listing.js';

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
  forgetStatement(name: string): void;
}

export class StreamedClaim implements StatementWatch {
  private readonly text = new TextMentions();
  private readonly functions = watchedNames().identifiers.scanner();
  private readonly cursorCommands: IdentifierScanner | undefined;
  private readonly deallocations: IdentifierScanner | undefined;

  constructor(
    private readonly type: number,
    private readonly state: ClaimState,
  ) {
    this.cursorCommands = state.cursorsOpen ? CURSOR_COMMANDS.scanner() : undefined;
    this.deallocations = type === FrontendMessage.Query && state.tracksStatements ? DEALLOCATING_COMMANDS.scanner() : undefined;
  }

  read(bytes: Buffer, sql: boolean): void {
    this.text.read(bytes);
    if (!sql) return;
    this.functions.push(bytes);
    this.cursorCommands?.push(bytes);
    this.deallocations?.push(bytes);
  }

  end(statement: string | undefined, sqlBytes: number): TooBigToParse | undefined {
    const { text, state } = this;
    const functionNamed = this.functions.end();
    let claimed = (text.mention && (text.masterKey || functionNamed)) || (this.cursorCommands?.end() ?? false);
    if (this.type === FrontendMessage.Query) claimed ||= text.listing || (this.deallocations?.end() ?? false);
    else {
      claimed ||= statement === undefined || (state.tracksStatements && statement !== '' && state.knowsStatement(statement));
      // A Parse the server runs drops the statement it names, the unnamed one whatever becomes of it; one the relay
      // spoils never runs there, so the old one stays, as for a Parse the engine refuses (handleParse).
      if (statement !== undefined && !claimed) state.forgetStatement(statement);
    }
    return claimed ? new TooBigToParse(sqlBytes) : undefined;
  }
}

/**
 * The byte searches of mentionsFunction and mayListExtensions over a text read in pieces: each piece is searched
 * with the end of the one before, enough for any name to show whole.
 */
class TextMentions {
  mention = false;
  masterKey = false;
  listing = false;
  private carry = '';
  private readonly overlap = Math.max(LISTING_MARKER.length, watchedNames().identifiers.longest) + 2;

  read(bytes: Buffer): void {
    const text = this.carry + bytes.toString('latin1');
    this.mention ||= watchedNames().mention.test(text);
    this.masterKey ||= mentionsMasterKey(text);
    this.listing ||= text.includes(LISTING_MARKER);
    this.carry = text.slice(-this.overlap);
  }
}
