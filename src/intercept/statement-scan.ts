// The tests the engine claims a Query or Parse by (mentionsFunction, psql's extension listing, the cursor,
// deallocating and resetting commands), run over a message read in pieces: each piece is looked at once, as it comes,
// so a big statement is never scanned whole in one turn of the event loop (review O: 9 MiB at ~13 ns a byte held
// every session ~0.1 s per statement).

import type { IdentifierScanner } from '../sql/identifiers.js';
import { mentionsMasterKey } from '../sql/master-key-statements.js';
import { CURSOR_COMMANDS, DEALLOCATING_COMMANDS, watchedNames } from './analyze.js';
import { LISTING_MARKER } from './extension-listing.js';
import { RESETTING_COMMANDS } from './secret-resets.js';

/** Which of the commands the scan looks for, besides the function names (each costs a scan of the text). */
export interface ScannedCommands {
  cursor: boolean;
  deallocating: boolean;
  resetting: boolean;
}

/** What the text showed; a command's answer is undefined when it was not looked for. */
export interface ScanVerdict {
  /** mentionsFunction's answer. */
  mentionsFunction: boolean;
  /** mayListExtensions's answer. */
  listing: boolean;
  cursorCommand: boolean | undefined;
  deallocating: boolean | undefined;
  resetting: boolean | undefined;
}

export class StatementScan {
  private readonly text = new TextMentions();
  private readonly functions = watchedNames().identifiers.scanner();
  private readonly cursor: IdentifierScanner | undefined;
  private readonly deallocating: IdentifierScanner | undefined;
  private readonly resetting: IdentifierScanner | undefined;

  constructor(commands: ScannedCommands) {
    this.cursor = commands.cursor ? CURSOR_COMMANDS.scanner() : undefined;
    this.deallocating = commands.deallocating ? DEALLOCATING_COMMANDS.scanner() : undefined;
    this.resetting = commands.resetting ? RESETTING_COMMANDS.scanner() : undefined;
  }

  /** The next bytes of the message, its header first; `sql` when they are of the statement's text. */
  read(bytes: Buffer, sql: boolean): void {
    this.text.read(bytes);
    if (!sql) return;
    this.functions.push(bytes);
    this.cursor?.push(bytes);
    this.deallocating?.push(bytes);
    this.resetting?.push(bytes);
  }

  /** The message is all read. */
  end(): ScanVerdict {
    const { text } = this;
    // Ended whatever the byte search found: a scanner keeps what it read past until its text ends.
    const functionNamed = this.functions.end();
    return {
      mentionsFunction: text.mention && (text.masterKey || functionNamed),
      listing: text.listing,
      cursorCommand: this.cursor?.end(),
      deallocating: this.deallocating?.end(),
      resetting: this.resetting?.end(),
    };
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
