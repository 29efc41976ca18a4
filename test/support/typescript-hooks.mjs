// Lets threads that the code under test starts (the parser's worker thread) import the TypeScript sources as they
// are, as vitest does for the tests themselves: vitest.config.ts passes this file to every test process with
// --import, and worker threads inherit it.

import { register } from 'node:module';

register('./typescript-loader.mjs', import.meta.url);
