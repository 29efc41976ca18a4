// The interceptor's looking at big statements as they arrive, for every session at once, is given a couple of
// milliseconds a turn of the event loop, shared a slice at a time in turn between the sessions that have any to do.
// Given to each session as its reads came, it cost a turn of the loop a few milliseconds for each session sending big
// statements: another session's SELECT 1, which takes a few turns, waited 117 ms beside 12 of them (review P).

/** Something to look at a slice at a time. */
export interface Looker {
  /** Looks at the next slice, of a few hundred microseconds at most: true when there is more to look at. */
  lookASlice(): boolean;
}

/** How long the lookers of all sessions may take in one turn of the event loop before every session has its I/O. */
const LOOKING_MS_A_TURN = 2;

/** The lookers with something to look at, in the order they get their next slice. */
const waiting = new Set<Looker>();
let scheduled = false;

/** `looker` has something to look at: it is given slices in turn with the others until it says it is done. */
export function lookWhenFree(looker: Looker): void {
  waiting.add(looker);
  if (scheduled) return;
  scheduled = true;
  setImmediate(lookForATurn);
}

/** `looker` has nothing more to look at, or is gone. */
export function stopLooking(looker: Looker): void {
  waiting.delete(looker);
}

function lookForATurn(): void {
  scheduled = false;
  const started = performance.now();
  try {
    while (waiting.size > 0 && performance.now() - started < LOOKING_MS_A_TURN) {
      const looker: Looker = waiting.values().next().value!;
      waiting.delete(looker);
      // Back of the line, behind every other session's next slice.
      if (looker.lookASlice()) waiting.add(looker);
    }
  } finally {
    // Whatever one session's looking threw, the others' goes on.
    if (waiting.size > 0 && !scheduled) {
      scheduled = true;
      setImmediate(lookForATurn);
    }
  }
}
