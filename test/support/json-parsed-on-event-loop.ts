// The longest text JSON.parse is given on the test's own thread (the proxy's event loop) while some work runs, for
// tests that a big provider answer is refused in the thread that parses it, before it comes to the event loop. A
// worker thread has a JSON of its own, which this does not see.

export async function longestJsonParsed(work: () => Promise<unknown>): Promise<number> {
  const parse = JSON.parse;
  let longest = 0;
  JSON.parse = (text: string, reviver?: Parameters<typeof parse>[1]) => {
    longest = Math.max(longest, String(text).length);
    return parse(text, reviver);
  };
  try {
    await work();
  } finally {
    JSON.parse = parse;
  }
  return longest;
}
