// What the proxy needs to know of a DECLARE … CURSOR over LLM calls, and of a FETCH or MOVE, from the parse tree:
// the cursor's name and options, where its query starts, and where a FETCH or MOVE goes.

import { scanSync } from '../sql/parser.js';
import { projectionPlan, type ProjectionPlan } from './projection-plan.js';

// PostgreSQL's CURSOR_OPT_* bits (parsenodes.h).
const CURSOR_OPT_BINARY = 0x0001;
const CURSOR_OPT_HOLD = 0x0020;
/** FETCH ALL: LONG_MAX, which the parser's WebAssembly build (32-bit long) spells 2^31 - 1. */
const FETCH_ALL = 2 ** 31 - 1;

export interface CursorDeclaration {
  name: string;
  holdable: boolean;
  binary: boolean;
  /** The cursor's query, as the client wrote it. */
  query: string;
  /** The fast path: the calls are whole output columns of the query (projection-plan.ts). */
  projection: ProjectionPlan | undefined;
}

/**
 * Where a FETCH or MOVE goes when it only goes forward: past `skip` rows, then over `count` rows (null: all of
 * them). A count of 0 stays on the current row (FETCH 0 reads it again).
 */
export interface ForwardMotion {
  skip: number;
  count: number | null;
}

export interface CursorMotion {
  cursor: string;
  move: boolean;
  /** Undefined where it may go back, to rows already read. */
  forward: ForwardMotion | undefined;
}

type Node = Record<string, any>;

export function cursorDeclaration(sql: string, declare: Node, callSites: number): CursorDeclaration {
  const bytes = Buffer.from(sql, 'utf8');
  // FOR is a reserved keyword: unquoted, it cannot be the cursor's name, so the first one is where the query starts.
  const forToken = scanSync(sql).tokens.find((token) => token.keywordName === 'RESERVED_KEYWORD' && token.text.toUpperCase() === 'FOR')!;
  const query = bytes.toString('utf8', forToken.end).trim();
  const options = Number(declare.options ?? 0);
  return {
    name: String(declare.portalname),
    holdable: (options & CURSOR_OPT_HOLD) !== 0,
    binary: (options & CURSOR_OPT_BINARY) !== 0,
    query,
    projection: projectionPlan(query, callSites),
  };
}

export function cursorMotion(fetch: Node): CursorMotion {
  const howMany = Number(fetch.howMany ?? 0);
  const all = howMany >= FETCH_ALL;
  let forward: ForwardMotion | undefined;
  switch (fetch.direction) {
    case 'FETCH_FORWARD':
      if (howMany >= 0) forward = { skip: 0, count: all ? null : howMany };
      break;
    case 'FETCH_BACKWARD':
      if (howMany <= 0) forward = { skip: 0, count: -howMany };
      break;
    case 'FETCH_RELATIVE':
      forward = howMany > 0 ? { skip: howMany - 1, count: 1 } : howMany === 0 ? { skip: 0, count: 0 } : undefined;
      break;
  }
  return { cursor: String(fetch.portalname), move: Boolean(fetch.ismove), forward };
}
