// A thread of the pool that cuts texts (cut-text.ts): once its modules are loaded it says it is ready, then cuts each
// text it is sent and answers with the chunks, or with the error (a PgError's SQLSTATE and fields kept, and whether
// the chunks were too many).

import { parentPort } from 'node:worker_threads';
import type { ThreadError } from '../../src/sql/parse-task.js';
import type { CutReply } from './cut-text.js';
import { cut, TooManyChunks, type Cut } from './text-splitter.js';

parentPort!.on('message', (request: Cut) => {
  try {
    parentPort!.postMessage({ chunks: cut(request) } satisfies CutReply);
  } catch (error) {
    const { message, sqlstate, detail, hint } = error as Error & Omit<ThreadError, 'message'>;
    parentPort!.postMessage({ error: { message, sqlstate, detail, hint }, tooManyChunks: error instanceof TooManyChunks } satisfies CutReply);
  }
});
parentPort!.postMessage('ready' satisfies CutReply);
