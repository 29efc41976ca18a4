// A Parse a client sends again and again (a driver's unnamed statement, each transaction of pgbench -M extended) is
// searched for the intercepted names once: the last 1,024 small Parse frames found to name none are remembered, and a
// repeat skips the search (its RegExp alone is about 3,000 instructions, an eighth of a relayed transaction). Only
// that answer is kept, keyed by every byte of the frame (statement name and parameter types too), so what is
// remembered is what the search would answer again; a frame that may call a function is searched every time.

import { mentionsFunction } from './analyze.js';
import { frameMentionsFunction } from './arriving-statements.js';

const REMEMBERED_FRAMES = 1024;
/** A bigger Parse is rarely repeated byte for byte, and would make the memory kept here large. */
const MAX_FRAME_BYTES = 2048;

/** Oldest first: the first to go when a new one comes. */
const namingNone = new Set<string>();

/** mentionsFunction of a Parse frame. */
export function parseMentionsFunction(frame: Buffer): boolean {
  if (frame.length > MAX_FRAME_BYTES) return frameMentionsFunction(frame);
  const text = frame.toString('latin1');
  if (namingNone.has(text)) return false;
  if (mentionsFunction(frame, text)) return true;
  if (namingNone.size >= REMEMBERED_FRAMES) namingNone.delete(namingNone.values().next().value!);
  namingNone.add(text);
  return false;
}
