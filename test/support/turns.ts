// How often the event loop turned while some work ran in this process: work that leaves it turns lets the proxy's
// other sessions, timers and sockets go on meanwhile, and counting the turns says so without timing anything.

/** `work`'s value, and the turns of the event loop until it settled. */
export async function withTurnsCounted<T>(work: () => Promise<T>): Promise<{ value: T; turns: number }> {
  let turns = 0;
  let counting = true;
  const count = (): void => {
    turns++;
    if (counting) setImmediate(count);
  };
  setImmediate(count);
  try {
    return { value: await work(), turns };
  } finally {
    counting = false;
  }
}
