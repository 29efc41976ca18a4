// Review24: the model's key goes only to the server its model was registered at. An Anthropic batch's
// results are read under its base_url: a results_url on another server that the status names is never sent the key.

import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { afterThisTest } from '../support/database.js';
import { FakeBatches } from '../support/fake-batches.js';
import { API_KEY } from '../support/models.js';
import { anthropicBatchJob } from '../support/worker.js';

const EVENTUALLY = { timeout: 15_000 };

/** A server on loopback whose requests `handle` answers (404 where it does not), recorded with their headers. */
async function server(handle: (method: string, path: string, raw: string, response: http.ServerResponse) => boolean) {
  const seen: http.IncomingHttpHeaders[] = [];
  const listening = http.createServer((request, response) => {
    let raw = '';
    request.on('data', (chunk: Buffer) => (raw += chunk.toString()));
    request.on('end', () => {
      seen.push(request.headers);
      if (!handle(request.method ?? 'GET', (request.url ?? '').split('?')[0]!, raw, response)) response.writeHead(404).end();
    });
  });
  await new Promise<void>((resolve) => listening.listen(0, '127.0.0.1', resolve));
  afterThisTest(() => new Promise<void>((resolve) => (listening.closeAllConnections(), listening.close(() => resolve()))));
  return { origin: `http://127.0.0.1:${(listening.address() as AddressInfo).port}`, seen };
}

/** Whether a request's headers carry the model's key, however the SDK sends it (x-api-key or a bearer token). */
function carriesKey(headers: http.IncomingHttpHeaders): boolean {
  return JSON.stringify(headers).includes(API_KEY);
}

describe("an Anthropic batch's results_url", () => {
  it("on a server other than the model's is never sent the model's key", async () => {
    const batches = new FakeBatches();
    // Another server, which serves the results the provider's answer points at.
    const elsewhere = await server((method, path, raw, response) => batches.handle(method, path, raw, '', response));
    const provider = await server((method, path, raw, response) => batches.handle(method, path, raw, elsewhere.origin, response));
    const client = await anthropicBatchJob(provider.origin);
    await expect.poll(() => batches.all.length, EVENTUALLY).toBe(1);
    expect(provider.seen.filter(carriesKey)).toHaveLength(1);
    batches.end(batches.all[0]!);
    // Settled: the answer written back (read from wherever), or the job failed with a reason.
    await expect.poll(async () => (await client.query(`SELECT status = 'done' OR last_error IS NOT NULL AS settled FROM llm.queue`)).rows, EVENTUALLY).toEqual([{ settled: true }]);
    expect(elsewhere.seen.filter(carriesKey)).toEqual([]);
  });
});
