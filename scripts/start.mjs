// `npm start`: compiles the TypeScript into dist/ when a source is newer than the last build, saying so, then runs
// the proxy in this very process. npm runs this with `exec`, so npm's SIGTERM and SIGINT reach the proxy itself, which
// then shuts down like the pg-llm-proxy command; a shell or a child process in between would let them miss it.

import { spawn } from 'node:child_process';
import { readdirSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
/** What tsconfig.json compiles, and tsconfig.json itself. */
const INPUTS = ['src', 'proxy', 'functions', 'test', 'tsconfig.json'];
/** tsc rewrites every output at each build, so the entry point's time is the last build's. */
const BUILT = path.join(ROOT, 'dist', 'src', 'main.js');

/** The newest change among the inputs: a file's, or a folder's, whose time moves when a file in it is removed. */
function newestChange(entry) {
  const stats = statSync(entry);
  if (!stats.isDirectory()) return entry.endsWith('.ts') || path.basename(entry) === 'tsconfig.json' ? stats.mtimeMs : 0;
  return readdirSync(entry).reduce((newest, name) => Math.max(newest, newestChange(path.join(entry, name))), stats.mtimeMs);
}

function builtAt() {
  try {
    return statSync(BUILT).mtimeMs;
  } catch {
    return -Infinity;
  }
}

function build() {
  process.stderr.write('pg-llm-proxy: compiling the TypeScript sources into dist/, changed since the last build…\n');
  const tsc = spawn(process.execPath, [path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', path.join(ROOT, 'tsconfig.json')], { stdio: 'inherit' });
  const stop = (signal) => tsc.kill(signal);
  process.on('SIGTERM', stop).on('SIGINT', stop);
  return new Promise((resolve) =>
    tsc.on('exit', (code, signal) => {
      process.off('SIGTERM', stop).off('SIGINT', stop);
      resolve(signal ? 1 : code);
    }),
  );
}

const newest = Math.max(...INPUTS.map((input) => newestChange(path.join(ROOT, input))));
if (newest > builtAt()) {
  const started = performance.now();
  const status = await build();
  if (status === 0) process.stderr.write(`pg-llm-proxy: compiled in ${((performance.now() - started) / 1000).toFixed(1)} s\n`);
  else {
    // tsc writes its output despite type errors: without this, the next start would take it for a good build.
    rmSync(BUILT, { force: true });
    process.stderr.write('pg-llm-proxy: the build failed; not starting\n');
    process.exit(status ?? 1);
  }
}
await import(pathToFileURL(BUILT).href);
