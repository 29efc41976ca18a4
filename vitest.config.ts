import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Integration files share one PostgreSQL cluster; two workers keep the 2-core machine busy but not starved.
    maxWorkers: 2,
    // Worker threads of the code under test (the parser's) import the TypeScript sources natively.
    execArgv: ['--import', fileURLToPath(new URL('./test/support/typescript-hooks.mjs', import.meta.url))],
  },
});
