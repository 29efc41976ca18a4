// A streamed answer is read as server-sent events on the event loop every session shares (answers/sse-events.ts).
// Review34: a server of a role's own that sends its stream faster than the proxy reads it has the next chunk there at
// once, so the stream was read to its end without a turn of the event loop between chunks: 7 MiB of blank lines
// (each awaited as an event that was not there) held every session of the proxy for about 5 s, 7 MiB of tiny
// events the SDK parses one by one for about a second, and a million empty data lines, one event whose data was
// counted as empty, reached the SDK's JSON.parse on the event loop whole (2 s).

import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { afterThisTest, freshDatabase } from '../support/database.js';
import { clientOf } from '../support/pg-ai.js';
import { startProxy, type TestProxy } from '../support/proxy.js';
import { longestDelayMs } from '../support/stall-probes.js';

const STREAM_BYTES = 7 * 1024 ** 2;
const CONTENT_EVENT = 'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"a"}}]}\n\n';

/** The stream the next request gets: `body` repeated to STREAM_BYTES, then one event with content, then [DONE]. */
let body = '\n';
let proxy: TestProxy;
let server: http.Server;

beforeAll(async () => {
  proxy = await startProxy();
  server = http.createServer((request, response) => {
    request.resume();
    request.on('end', () => {
      response.writeHead(200, { 'content-type': 'text/event-stream' });
      const piece = Buffer.from(body.repeat(Math.ceil(65536 / body.length)));
      let left = STREAM_BYTES;
      const write = (): void => {
        while (left > 0 && !response.destroyed) {
          left -= piece.length;
          if (!response.write(piece)) return void response.once('drain', write);
        }
        if (!response.destroyed) response.end(`\n\n${CONTENT_EVENT}data: [DONE]\n\n`);
      };
      write();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
});

afterAll(async () => {
  await proxy.stop();
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

async function streamingRole() {
  const { name } = await freshDatabase();
  const admin = await clientOf(proxy, name);
  await admin.query('CREATE EXTENSION pg_llm');
  const heavy = await clientOf(proxy, name, 'trust');
  afterThisTest(async () => void (await admin.end(), await heavy.end()));
  const config = { model_name: 'm', base_url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`, max_retries: 0 };
  await heavy.query(`SELECT pg_llm_add_model(false, 'openai_compatible', 'own', NULL, $1)`, [JSON.stringify(config)]);
  return heavy;
}

describe("a role's server streaming faster than the proxy reads", () => {
  it.each([
    ['7 MiB of blank lines', '\n', [{ n: 2 }]],
    ['7 MiB of events without content', 'data: {}\n\n', [{ n: 2 }]],
  ])('%s does not hold up the other sessions', async (_, stream, rows) => {
    const heavy = await streamingRole();
    const quiet = await longestDelayMs(new Promise((resolve) => setTimeout(resolve, 2000)));
    body = stream;
    const answered = heavy.query(`SELECT count(*)::int AS n FROM pg_llm_chat_stream('own', 'a')`);
    const during = await longestDelayMs(answered);
    expect((await answered).rows).toEqual(rows);
    expect(during).toBeLessThan(4 * quiet + 500);
  }, 120_000);

  it('sending a million empty data lines as one event has it parsed off the event loop', async () => {
    const heavy = await streamingRole();
    const quiet = await longestDelayMs(new Promise((resolve) => setTimeout(resolve, 2000)));
    body = 'data:\n';
    const answered = heavy.query(`SELECT count(*)::int AS n FROM pg_llm_chat_stream('own', 'a')`);
    const during = await longestDelayMs(answered);
    await expect(answered).rejects.toMatchObject({ code: '39001', message: "the model provider's answer is not valid JSON" });
    expect(during).toBeLessThan(4 * quiet + 500);
  }, 120_000);
});
