// Which texts PostgreSQL's parser is given on the test's own thread (the proxy's event loop), for tests that a text is
// parsed in the parser's worker thread instead. A test file wires it in with
//   vi.mock('libpg-query', async (original) => (await import('../support/parsed-on-event-loop.js')).recordingParser(original));

/** The byte length of each text parsed on this thread since the array was last emptied. */
export const parsedOnEventLoop: number[] = [];

export async function recordingParser(importOriginal: <T>() => Promise<T>) {
  const parser = await importOriginal<typeof import('libpg-query')>();
  return {
    ...parser,
    parseSync: (sql: string) => {
      parsedOnEventLoop.push(Buffer.byteLength(sql));
      return parser.parseSync(sql);
    },
  };
}
