// An idle proxy keeps the garbage of its last busy minutes: V8 collects when more is allocated, and a proxy gone quiet
// allocates next to nothing. After four calls with 24.5 MB prompts and eight answers of 7 MB, an idle proxy stayed at
// 659 MB resident (review R3: 700-770 MB after its attacks), where one full collection brought it to 230 MB. So once
// its heap and buffers have grown by GROWTH_BYTES since it last collected, and its event loop was quiet since the last
// look, the proxy collects, concurrently with whatever comes meanwhile.

import v8 from 'node:v8';
import vm from 'node:vm';

export type GarbageCollector = (options?: { type?: 'major' | 'minor'; execution?: 'sync' | 'async' }) => void;

const CHECK_MS = 5000;
const GROWTH_BYTES = 64 * 1024 ** 2;
/** The share of the time since the last look the event loop may have worked for it to count as quiet. */
const QUIET_UTILIZATION = 0.05;

/** V8's gc(), which a process has only when started with --expose-gc: taken once, not exposed to anything else. */
export function garbageCollector(): GarbageCollector {
  v8.setFlagsFromString('--expose-gc');
  const collect = vm.runInNewContext('gc') as GarbageCollector;
  v8.setFlagsFromString('--no-expose-gc');
  return collect;
}

/** Looks every `checkMs` whether to collect, until the returned function is called. */
export function collectWhenIdle(checkMs = CHECK_MS): () => void {
  const collect = garbageCollector();
  const held = (): number => {
    const { heapUsed, external } = process.memoryUsage();
    return heapUsed + external;
  };
  let level = held();
  let collected = false;
  let since = performance.eventLoopUtilization();
  const timer = setInterval(() => {
    const quiet = performance.eventLoopUtilization(since).utilization < QUIET_UTILIZATION;
    since = performance.eventLoopUtilization();
    const now = held();
    // What is left after a collection (the proxy's or V8's own) is where growth counts from, live data included.
    if (collected || now < level) level = now;
    collected = quiet && now - level > GROWTH_BYTES;
    if (collected) collect({ type: 'major', execution: 'async' });
  }, checkMs);
  timer.unref();
  return () => clearInterval(timer);
}
