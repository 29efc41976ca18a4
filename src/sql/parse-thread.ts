// The parser's worker thread (see parse-task.ts): runs the parse tasks it is sent, one at a time, and answers each
// with its result or its error (a PgError's SQLSTATE and fields kept). A text with more code than the task allows is
// refused unparsed.

import { loadModule } from 'libpg-query';
import { parentPort } from 'node:worker_threads';
import { checkCode, type ThreadError, type ThreadJob } from './parse-task.js';

await loadModule();
parentPort!.on('message', async ({ module, name, sql, maxCode }: ThreadJob) => {
  try {
    checkCode(sql, maxCode);
    const exports = (await import(module)) as Record<string, (sql: string) => unknown>;
    parentPort!.postMessage({ result: exports[name]!(sql) });
  } catch (error) {
    const { message, sqlstate, detail, hint } = error as Error & Omit<ThreadError, 'message'>;
    parentPort!.postMessage({ error: { message, sqlstate, detail, hint } });
  }
});
