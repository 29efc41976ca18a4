// The longest text JSON.parse is given, and the longest JSON.stringify writes, on the test's own thread (the proxy's
// event loop) while some work runs: for tests that a big provider answer is refused in the thread that parses it,
// before it comes to the event loop, and that big arguments and request bodies are parsed and written in a thread.
// A worker thread has a JSON of its own, which this does not see.

/** The longest text JSON.parse was given, and the longest JSON.stringify wrote, while `work` ran. */
export async function longestJsonOnEventLoop(work: () => Promise<unknown>): Promise<{ parsed: number; written: number }> {
  const { parse, stringify } = JSON;
  const longest = { parsed: 0, written: 0 };
  JSON.parse = (text: string, reviver?: Parameters<typeof parse>[1]) => {
    longest.parsed = Math.max(longest.parsed, String(text).length);
    return parse(text, reviver);
  };
  JSON.stringify = ((value: unknown, replacer?: Parameters<typeof stringify>[1], space?: string | number) => {
    const text = stringify(value, replacer as never, space);
    longest.written = Math.max(longest.written, text?.length ?? 0);
    return text;
  }) as typeof stringify;
  try {
    await work();
  } finally {
    Object.assign(JSON, { parse, stringify });
  }
  return longest;
}

export async function longestJsonParsed(work: () => Promise<unknown>): Promise<number> {
  return (await longestJsonOnEventLoop(work)).parsed;
}
