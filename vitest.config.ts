import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // expect.poll waits for what a real server, proxy or fake provider does next: on a loaded machine that can take
    // well over vitest's default second, and the test still fails in the end if it never happens.
    expect: { poll: { timeout: 15_000 } },
    // Integration files share one PostgreSQL cluster; two workers keep the 2-core machine busy but not starved.
    maxWorkers: 2,
    // Worker threads of the code under test (the parser's) import the TypeScript sources natively.
    execArgv: ['--import', fileURLToPath(new URL('./test/support/typescript-hooks.mjs', import.meta.url))],
  },
});
