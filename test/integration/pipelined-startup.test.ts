// A client may send requests right behind its startup packet, before the server is ready: the server answers them
// after its first ReadyForQuery, often in the same read of the proxy's. Those answers are accounted as any other, or
// the requests would stay owed for good: the session would never be idle again, its next LLM statement would wait
// for them, and the answers to the proxy's own requests would be taken for the client's, and the client's for the
// proxy's.

import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cluster, startProxy, type TestProxy } from '../support/proxy.js';
import { RawClient, serialize } from '../support/raw-client.js';

const READY_FOR_QUERY = 0x5a;

/**
 * A relay to the test cluster that passes on what the server sends at the start of each connection only once it has
 * sent `readies` ReadyForQuery messages, in one write: the startup's answer and the next ones reach the proxy in one read.
 */
async function coalescingRelay(readies: number): Promise<{ port: number; stop(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((inbound) => {
    const outbound = net.connect({ host: '127.0.0.1', port: cluster().port });
    for (const socket of [inbound, outbound]) {
      sockets.add(socket);
      socket.on('error', () => {});
      socket.on('close', () => (inbound.destroy(), outbound.destroy()));
    }
    inbound.pipe(outbound);
    let held = Buffer.alloc(0);
    let seen = 0;
    let offset = 0;
    const hold = (chunk: Buffer): void => {
      held = Buffer.concat([held, chunk]);
      while (offset + 5 <= held.length) {
        if (held[offset] === READY_FOR_QUERY) seen++;
        offset += 1 + held.readInt32BE(offset + 1);
      }
      if (seen < readies) return;
      outbound.off('data', hold);
      inbound.write(held);
      outbound.pipe(inbound);
    };
    outbound.on('data', hold);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    stop: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

let relay: Awaited<ReturnType<typeof coalescingRelay>>;
let proxy: TestProxy;
/** Straight to the cluster: what a session that sent nothing early answers. */
let reference: TestProxy;

beforeAll(async () => {
  relay = await coalescingRelay(2);
  proxy = await startProxy({ upstream: { port: relay.port } });
  reference = await startProxy();
});

afterAll(async () => {
  await proxy?.stop();
  await reference?.stop();
  await relay?.stop();
});

/** What a session answers to an LLM statement (the proxy's own requests run before it). */
async function answerTo(client: RawClient, sql: string): Promise<string[]> {
  const messages = await client.query(sql);
  return messages.map((message) => ('code' in message ? `${message.name} ${String(message.code)}` : message.name));
}

describe('a query sent before the session is ready', () => {
  it('is answered and accounted: the session is idle after it, and its next LLM statement gets its own answer', async () => {
    const client = await RawClient.open(proxy.port);
    try {
      client.send(serialize.startup({ user: 'postgres', database: 'postgres', application_name: 'pipelined-startup' }), serialize.query("SELECT 'early'"));
      await client.until('readyForQuery');
      const early = await client.until('readyForQuery');
      expect(early.map((message) => message.name)).toEqual(['rowDescription', 'dataRow', 'commandComplete', 'readyForQuery']);
      const [view] = proxy.listener.sessionViews().filter((session) => session.application === 'pipelined-startup');
      expect(view?.activity).toBe('idle');

      const other = await RawClient.session(reference.port);
      try {
        // Asks the proxy for its own look at the catalog first, answered in the session's stream.
        const sql = "SELECT llm_ask('hello')";
        expect(await answerTo(client, sql)).toEqual(await answerTo(other, sql));
        expect((await client.query("SELECT 'after'")).map((message) => message.name)).toEqual(['rowDescription', 'dataRow', 'commandComplete', 'readyForQuery']);
      } finally {
        other.socket.destroy();
      }
    } finally {
      client.socket.destroy();
    }
  });
});
