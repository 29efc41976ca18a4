// An idle proxy kept hundreds of MB of garbage from its busy minutes, which V8 collects only when more is allocated
// (review R3): once it is quiet, the proxy collects. Seen in a process of its own, where nothing else allocates.

import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';

const BUILT = new URL('../../dist/src/idle-collection.js', import.meta.url).href;

const SCRIPT = `
import { collectWhenIdle, garbageCollector } from ${JSON.stringify(BUILT)};
import { setTimeout as sleep } from 'node:timers/promises';
const MiB = 1024 ** 2;
const collect = garbageCollector();
const stop = collectWhenIdle(100);
let garbage = Array.from({ length: 4 }, () => Buffer.alloc(64 * MiB, 1));
// Old by now: only a full collection frees them, which a process allocating next to nothing never comes to.
collect();
collect();
const busy = process.memoryUsage().arrayBuffers;
garbage = undefined;
// V8's own memory reducer looks first after 8 s, and the proxy's idle minutes pass unnoticed by it (review R3).
for (let looks = 0; looks < 30 && process.memoryUsage().arrayBuffers > busy - 200 * MiB; looks++) await sleep(100);
stop();
console.log(JSON.stringify({ busy: Math.round(busy / MiB), after: Math.round(process.memoryUsage().arrayBuffers / MiB) }));
`;

it('collects the garbage of a busy spell once the event loop is quiet', async () => {
  const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', SCRIPT]);
  const { busy, after } = JSON.parse(stdout) as { busy: number; after: number };
  expect(busy).toBeGreaterThanOrEqual(256);
  expect(after).toBeLessThan(busy - 200);
}, 30_000);
