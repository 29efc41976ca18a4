// The prepared statements that Parses the engine holds and has not handled yet are to define, and whether the last of
// each calls LLM functions as far as a byte search tells (what claims() asks of a Parse): a Bind that follows them
// in the client's pipeline is judged before it is read (admitBind), so by the statement they will make of its name,
// not by the one the name has now.

import { readParseStatement } from '../../proxy/frontend-read.js';
import { MalformedMessage } from '../../proxy/pg-error.js';

interface Pending {
  /** Parses of the name not handled yet. */
  count: number;
  /** Whether the last of them calls LLM functions. */
  calls: boolean;
}

export class PendingParses {
  private readonly byName = new Map<string, Pending>();

  get size(): number {
    return this.byName.size;
  }

  /** A Parse is held to be handled in turn. */
  held(frame: Buffer, calls: boolean): void {
    const name = statementOf(frame);
    if (name === undefined) return;
    this.byName.set(name, { count: (this.byName.get(name)?.count ?? 0) + 1, calls });
  }

  /** A Parse held is handled: what the engine knows of its statement now says what it is. */
  handled(frame: Buffer): void {
    const name = statementOf(frame);
    const pending = name === undefined ? undefined : this.byName.get(name);
    if (pending && --pending.count === 0) this.byName.delete(name!);
  }

  /** Whether the statement `name` will call LLM functions once the Parses held are handled; undefined when none names it. */
  calls(name: string): boolean | undefined {
    return this.byName.get(name)?.calls;
  }
}

/** A Parse's statement name; undefined for a malformed one, which the engine refuses and which defines nothing. */
function statementOf(frame: Buffer): string | undefined {
  try {
    return readParseStatement(frame);
  } catch (error) {
    if (error instanceof MalformedMessage) return undefined;
    throw error;
  }
}
