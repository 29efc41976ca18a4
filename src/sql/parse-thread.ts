// The parser's worker thread (see parse-task.ts): runs the parse tasks it is sent, one at a time, and answers each
// with its result or its error's message.

import { loadModule } from 'libpg-query';
import { parentPort } from 'node:worker_threads';

await loadModule();
parentPort!.on('message', async ({ module, name, sql }: { module: string; name: string; sql: string }) => {
  try {
    const exports = (await import(module)) as Record<string, (sql: string) => unknown>;
    parentPort!.postMessage({ result: exports[name]!(sql) });
  } catch (error) {
    parentPort!.postMessage({ error: (error as Error).message });
  }
});
