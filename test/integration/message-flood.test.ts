// A client may pipeline without limit behind a statement the proxy runs (here a mock model's call that takes 3 s),
// and the proxy holds what it queued up to a bound before it stops reading. That bound counted frame bytes only, so
// 5-byte Flush messages fit by the 840,000, 160 MB of the proxy's memory for one client; once the call ended they were
// handed on in one run of microtasks with a write each, 8.6 s in which no other session had a turn, nor this client's
// leaving: a lock it held stayed 7.9 s after it left (issue 12). The proxy runs in this process: what it holds is
// measured here after a full collection, and a relay between it and PostgreSQL counts the Flushes that arrive.

import type { Socket } from 'node:net';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { afterThisTest, freshDatabase } from '../support/database.js';
import { peakGrowth } from '../support/held-memory.js';
import { connection } from '../support/proxy.js';
import { RawClient, serialize } from '../support/raw-client.js';
import { relayedProxyAndFakeProvider } from '../support/relayed-proxy.js';

const MiB = 1024 ** 2;
const FLUSH = Buffer.from([0x48, 0, 0, 0, 4]);
/** 1,000,000 Flush messages in one write: 5 MB. */
const FLOOD = Buffer.concat(Array.from({ length: 1_000_000 }, () => FLUSH));

const shared = relayedProxyAndFakeProvider();

/** A database with the catalog and the mock model "slow", whose answers take 3 s; a raw session on it. */
async function sessionWithSlowModel(): Promise<{ name: string; raw: RawClient; direct: pg.Client }> {
  const { name, client: direct } = await freshDatabase();
  const setup = new pg.Client(connection(shared.proxy.port, 'postgres', name));
  await setup.connect();
  afterThisTest(() => setup.end());
  await setup.query('CREATE EXTENSION pg_llm');
  await setup.query(`SELECT pg_llm_add_model(false, 'mock', 'slow', NULL, '{"mock_latency_ms": 3000}')`);
  const raw = await RawClient.session(shared.proxy.port, { database: name });
  afterThisTest(async () => void raw.socket.destroy());
  return { name, raw, direct };
}

function flushesArrived(): number {
  return shared.relay.requests.messages.get('H') ?? 0;
}

/**
 * Counts the turns of the event loop in which the proxy wrote to PostgreSQL: what its sessions' upstream sockets
 * were given (written or waiting to be) is looked at once a turn.
 */
function countWritingTurns(): { readonly writing: number; stop(): void } {
  const sessions = (shared.proxy.listener as unknown as { sessions: Map<{ upstream?: Socket }, unknown> }).sessions;
  const written = new WeakMap<Socket, number>();
  const counter = { writing: 0, stop: () => void (running = false) };
  let running = true;
  const turn = (): void => {
    let wrote = false;
    for (const { upstream } of sessions.keys()) {
      if (!upstream) continue;
      if (upstream.bytesWritten !== (written.get(upstream) ?? upstream.bytesWritten)) wrote = true;
      written.set(upstream, upstream.bytesWritten);
    }
    if (wrote) counter.writing++;
    if (running) setImmediate(turn);
  };
  setImmediate(turn);
  return counter;
}

describe('a flood of Flush messages behind a model call', () => {
  it('is held by the proxy within its bound of 4 MiB, counting what each message costs', async () => {
    const { raw } = await sessionWithSlowModel();
    const growth = await peakGrowth(async () => {
      raw.send(serialize.query(`SELECT pg_llm_chat('slow', 'hi') AS a`));
      raw.socket.write(FLOOD);
      const answer = await raw.until('readyForQuery', 60_000);
      expect(answer.find((message) => message.name === 'dataRow')).toBeDefined();
    }, 200);
    expect(growth).toBeLessThan(24 * MiB);
  }, 120_000);

  it('is handed on a few messages a turn once the call ends, not all in one run', async () => {
    const { raw } = await sessionWithSlowModel();
    const before = flushesArrived();
    raw.send(serialize.query(`SELECT pg_llm_chat('slow', 'hi') AS a`));
    raw.socket.write(FLOOD);
    const turns = countWritingTurns();
    await expect.poll(flushesArrived, { timeout: 120_000, interval: 200 }).toBeGreaterThanOrEqual(before + FLOOD.length / FLUSH.length);
    turns.stop();
    // Some 20,000 of them were queued when the call ended, and more as the client was read again: a turn takes 128.
    expect(turns.writing).toBeGreaterThan(100);
  }, 180_000);
});
