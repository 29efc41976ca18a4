// A Query or Parse the client's framer assembles across reads is scanned as it arrives, a read at a time, in the
// buffer it is assembled in, so that claiming it costs a turn of the event loop no more than its last read: scanned
// whole in the turn it completed, a statement of megabytes held every session up (review O). The verdict is kept
// with the frame, keyed by its buffer, until the engine asks for it (claims, accept).

import { FrontendMessage } from '../../proxy/protocol.js';
import { mentionsFunction } from './analyze.js';
import { StatementScan, type ScannedCommands, type ScanVerdict } from './statement-scan.js';

/** A statement shorter than this is scanned whole when it is in: a few milliseconds at worst. */
export const SCANNED_ON_ARRIVAL_FROM = 256 * 1024;

const HEADER_LENGTH = 5;

type Part = 'name' | 'sql' | 'rest';

class ArrivingStatement {
  private readonly scan: StatementScan;
  private read = HEADER_LENGTH;
  /** A Parse's statement name, its text and what follows; a Query's text and its NUL. */
  private part: Part;
  private verdict: ScanVerdict | undefined;

  constructor(
    private readonly frame: Buffer,
    commands: ScannedCommands,
  ) {
    this.scan = new StatementScan(commands);
    this.part = frame[0] === FrontendMessage.Parse ? 'name' : 'sql';
    this.scan.read(frame.subarray(0, HEADER_LENGTH), false);
  }

  /** Reads the bytes in so far, up to `filled`, with the text's bounds as sqlBounds sets them. */
  readTo(filled: number): void {
    while (this.read < filled) {
      const boundary = this.part === 'rest' ? -1 : this.partEnd(filled);
      const to = boundary < 0 ? filled : boundary;
      if (to > this.read) this.scan.read(this.frame.subarray(this.read, to), this.part === 'sql');
      this.read = to;
      if (boundary < 0) return;
      this.scan.read(this.frame.subarray(boundary, boundary + 1), false);
      this.read = boundary + 1;
      this.part = this.part === 'name' ? 'sql' : 'rest';
    }
  }

  /** The frame is in whole. */
  end(): ScanVerdict {
    this.readTo(this.frame.length);
    return (this.verdict ??= this.scan.end());
  }

  /** Where, before `filled`, the current part ends (the byte that ends it), or -1. */
  private partEnd(filled: number): number {
    if (this.frame[0] === FrontendMessage.Query) return this.frame.length - 1 < filled ? this.frame.length - 1 : -1;
    const nul = this.frame.subarray(this.read, filled).indexOf(0);
    return nul < 0 ? -1 : this.read + nul;
  }
}

const arriving = new WeakMap<Buffer, ArrivingStatement>();

/**
 * The first `filled` bytes of a Query or Parse are in `frame`, the buffer it is being assembled in. `commands`: the
 * commands to look for besides the function names, asked when the statement starts. True when they were read (the
 * statement is big enough).
 */
export function readArriving(frame: Buffer, filled: number, commands: () => ScannedCommands): boolean {
  if (frame.length < SCANNED_ON_ARRIVAL_FROM) return false;
  let statement = arriving.get(frame);
  if (statement === undefined) arriving.set(frame, (statement = new ArrivingStatement(frame, commands())));
  statement.readTo(filled);
  return true;
}

/** What the scan of a frame read as it arrived found, or undefined when it was not read so. */
export function scannedOnArrival(frame: Buffer): ScanVerdict | undefined {
  return arriving.get(frame)?.end();
}

/** mentionsFunction of a Query or Parse frame, as its scan on arrival found when it had one. */
export function frameMentionsFunction(frame: Buffer): boolean {
  return scannedOnArrival(frame)?.mentionsFunction ?? mentionsFunction(frame);
}
