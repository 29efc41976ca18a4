// What this process (the proxy runs in it, in the tests) holds live: its heap and the memory of its buffers, measured
// after a full collection, so that garbage not yet collected does not count.

import { garbageCollector } from '../../src/idle-collection.js';

export const collectGarbage = garbageCollector();

export function heldLive(): number {
  // The second collection frees the memory of the buffers the first found dead.
  collectGarbage();
  collectGarbage();
  const { heapUsed, arrayBuffers } = process.memoryUsage();
  return heapUsed + arrayBuffers;
}

/** The most this process held live while `work` ran (sampled every `intervalMs`), over what it held before. */
export async function peakGrowth(work: () => Promise<void>, intervalMs = 500): Promise<number> {
  const before = heldLive();
  let peak = before;
  const sampler = setInterval(() => (peak = Math.max(peak, heldLive())), intervalMs);
  try {
    await work();
  } finally {
    clearInterval(sampler);
  }
  return peak - before;
}
