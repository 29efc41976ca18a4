// A batch's results are JSON lines, read whole from the model's server (any role's choice) by the worker, which runs
// on the event loop every session of the proxy shares. Review34: the lines were gone through at once, a copy made of
// each, blank or not: 7.5 MiB of blank lines (under --max-response-bytes) held every session for about 4 s, and
// 2.5 million tiny lines for about 2 s.

import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { afterThisTest } from '../support/database.js';
import { FakeBatches } from '../support/fake-batches.js';
import { longestDelayMs } from '../support/stall-probes.js';
import { anthropicBatchJob } from '../support/worker.js';

const EVENTUALLY = { timeout: 60_000 };

/** A fake Anthropic batch API on loopback whose results come after `padding`. */
async function batchServer(batches: FakeBatches, padding: string): Promise<string> {
  const server = http.createServer((request, response) => {
    let raw = '';
    request.on('data', (chunk: Buffer) => (raw += chunk.toString()));
    request.on('end', () => {
      const path = (request.url ?? '').split('?')[0]!;
      const method = request.method ?? 'GET';
      const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      if (method === 'GET' && path.endsWith('/results')) {
        // The fake's own lines, after the padding.
        const write = response.end.bind(response);
        response.end = ((body: string) => write(padding + body)) as typeof response.end;
      }
      if (!batches.handle(method, path, raw, origin, response)) response.writeHead(404).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  afterThisTest(() => new Promise<void>((resolve) => (server.closeAllConnections(), server.close(() => resolve()))));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe("a batch's results of millions of lines", () => {
  it.each([
    ['7.5 MiB of blank lines', '\n'.repeat(7.5 * 1024 ** 2)],
    ['2.5 million tiny lines', '{}\n'.repeat(2_500_000)],
  ])('(%s) are read without holding up the other sessions', async (_, padding) => {
    const batches = new FakeBatches();
    const origin = await batchServer(batches, padding);
    const client = await anthropicBatchJob(origin);
    await expect.poll(() => batches.all.length, EVENTUALLY).toBe(1);
    const quiet = await longestDelayMs(new Promise((resolve) => setTimeout(resolve, 2000)));
    batches.end(batches.all[0]!);
    const settled = expect
      .poll(async () => (await client.query(`SELECT status = 'done' OR last_error IS NOT NULL AS settled FROM llm.queue`)).rows, EVENTUALLY)
      .toEqual([{ settled: true }]);
    const during = await longestDelayMs(settled);
    await settled;
    // Before the fix these held the loop about 4 s and 2 s on an idle machine; the margin leaves room for the other
    // test files' load (578 ms was seen once while the whole suite ran).
    expect(during).toBeLessThan(4 * quiet + 1000);
  }, 120_000);
});
