// How much a client is held up while something else runs in the proxy (this process, in the tests): a probe run 20
// times one after the other, the slowest of them, and the event loop's longest delay meanwhile.

import { monitorEventLoopDelay } from 'node:perf_hooks';

export interface Stalls {
  slowestMs: number;
  delayMs: number;
}

export async function stallProbes(probe: (index: number) => Promise<void>, pauseMs = 0): Promise<Stalls> {
  const delay = monitorEventLoopDelay({ resolution: 10 });
  delay.enable();
  let slowestMs = 0;
  for (let index = 0; index < 20; index++) {
    const started = performance.now();
    await probe(index);
    slowestMs = Math.max(slowestMs, performance.now() - started);
    if (pauseMs > 0) await new Promise((resolve) => setTimeout(resolve, pauseMs));
  }
  delay.disable();
  return { slowestMs, delayMs: delay.max / 1e6 };
}

/** The event loop's longest delay, the proxy's sessions' and the test's, until `work` is done. */
export async function longestDelayMs(work: Promise<unknown>): Promise<number> {
  const delay = monitorEventLoopDelay({ resolution: 10 });
  delay.enable();
  await work.catch(() => undefined);
  delay.disable();
  return delay.max / 1e6;
}
