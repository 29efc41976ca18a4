// Malformed or oversized input gets a FATAL ErrorResponse with the right SQLSTATE and a closed connection (a
// startup packet whose length is out of range, or a CancelRequest of the wrong length, gets only the closed
// connection, as from PostgreSQL); the proxy itself and every other session carry on. A message whose frame is
// sound but whose content is not gets an ERROR in its place, as from PostgreSQL, and its session carries on too.

import net from 'node:net';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cluster, startProxy, type TestProxy } from '../support/proxy.js';
import { psql } from '../support/psql.js';
import { RawClient, serialize } from '../support/raw-client.js';
import { FrontendMessage } from '../../proxy/protocol.js';

let proxy: TestProxy;
/** The proxy's error-level log lines: a client's malformed message is the client's error, not the proxy's. */
const errorsLogged: string[] = [];
beforeAll(async () => {
  proxy = await startProxy({ maxMessageSize: 1024 * 1024, log: pino({ level: 'error' }, { write: (line: string) => errorsLogged.push(line) }) });
});
afterAll(() => proxy.stop());

function int32(value: number): Buffer {
  const bytes = Buffer.alloc(4);
  bytes.writeInt32BE(value, 0);
  return bytes;
}

function startupPacket(version: number, body: Buffer): Buffer {
  return Buffer.concat([int32(8 + body.length), int32(version), body]);
}

async function expectFatal(raw: RawClient, code: string, message: RegExp): Promise<void> {
  const [error] = await raw.until('error');
  expect(error).toMatchObject({ severity: 'FATAL', code });
  expect((error as unknown as Error).message).toMatch(message);
  await raw.untilClosed();
}

const PROTOCOL_3_0 = 196608;

describe('malformed startup', () => {
  it.each([
    ['a length below 8', Buffer.concat([int32(3), int32(PROTOCOL_3_0)])],
    ['a length over 10000', Buffer.concat([int32(20000), int32(PROTOCOL_3_0)])],
  ])('%s closes the connection without a word', async (_name, packet) => {
    const raw = await RawClient.open(proxy.port);
    raw.send(packet);
    await raw.untilClosed();
    expect(raw.received).toEqual([]);
  });

  it('a CancelRequest of the wrong length closes the connection without a word, as PostgreSQL does', async () => {
    for (const port of [cluster().port, proxy.port]) {
      const raw = await RawClient.open(port);
      raw.send(Buffer.concat([int32(12), int32(80877102), int32(1)]));
      await raw.untilClosed();
      expect(raw.received).toEqual([]);
    }
  });

  it.each([
    ['protocol version 2.0', startupPacket(2 << 16, Buffer.from('user\0postgres\0\0')), '0A000', /unsupported frontend protocol 2\.0/],
    ['parameters without a terminator', startupPacket(PROTOCOL_3_0, Buffer.from('user\0postgres')), '08P01', /invalid startup packet layout/],
    ['no user name', startupPacket(PROTOCOL_3_0, Buffer.from('database\0postgres\0\0')), '28000', /no PostgreSQL user name/],
  ])('%s gets a FATAL error', async (_name, packet, code, message) => {
    const raw = await RawClient.open(proxy.port);
    raw.send(packet);
    await expectFatal(raw, code, message);
  });

  it('bytes sent after an SSLRequest, before the TLS handshake, are refused (CVE-2021-23214)', async () => {
    const withTls = await startProxy({ tls: true });
    const raw = await RawClient.open(withTls.port);
    raw.send(Buffer.concat([int32(8), int32(80877103), startupPacket(PROTOCOL_3_0, Buffer.from('user\0postgres\0\0'))]));
    await expectFatal(raw, '08P01', /received unencrypted data after SSL request/);
    await withTls.stop();
  });

  it('without a certificate, a StartupMessage sent right behind the SSLRequest is simply the next packet', async () => {
    const socket = net.connect({ host: '127.0.0.1', port: proxy.port });
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.write(Buffer.concat([int32(8), int32(80877103), serialize.startup({ user: 'postgres', database: 'postgres' })]));
    let received = Buffer.alloc(0);
    await new Promise<void>((resolve) =>
      socket.on('data', (chunk: Buffer) => {
        received = Buffer.concat([received, chunk]);
        if (received.includes(Buffer.from([0x5a, 0, 0, 0, 5, 0x49]))) resolve(); // ReadyForQuery, idle
      }),
    );
    expect(received.toString('latin1', 0, 1)).toBe('N');
    socket.destroy();
  });

  it('a client asking for protocol 3.2 gets the upstream\'s NegotiateProtocolVersion and a working session', async () => {
    const socket = net.connect({ host: '127.0.0.1', port: proxy.port });
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.write(startupPacket((3 << 16) | 2, Buffer.from('user\0postgres\0database\0postgres\0_pq_.unknown_option\0x\0\0')));
    let received = Buffer.alloc(0);
    await new Promise<void>((resolve) =>
      socket.on('data', (chunk: Buffer) => {
        received = Buffer.concat([received, chunk]);
        if (received.includes(Buffer.from([0x5a, 0, 0, 0, 5, 0x49]))) resolve();
      }),
    );
    // PostgreSQL 15 offers 3.0 and names the option it does not know; PostgreSQL 18 accepts 3.2 and names only the option.
    expect(received[0]).toBe(0x76);
    expect(received.includes(Buffer.from('_pq_.unknown_option\0'))).toBe(true);
    socket.destroy();
  });

  it('a client that connects and says nothing is dropped after the startup timeout', async () => {
    const impatient = await startProxy({ startupTimeoutMs: 300 });
    const raw = await RawClient.open(impatient.port);
    await raw.untilClosed(3000);
    await impatient.stop();
  });
});

describe('malformed messages in a session', () => {
  it('a message length below 4 is a protocol violation', async () => {
    const raw = await RawClient.session(proxy.port);
    raw.send(Buffer.from([0x51, 0, 0, 0, 2]));
    await expectFatal(raw, '08P01', /invalid message length 2/);
  });

  // PostgreSQL reads at most 10,000 bytes of these; held whole while the proxy mediates, one would take up to
  // --max-message-size of its memory for each session sending it.
  it.each([
    ['Sync', FrontendMessage.Sync],
    ['Flush', FrontendMessage.Flush],
    ['Execute', FrontendMessage.Execute],
    ['Describe', FrontendMessage.Describe],
    ['Close', FrontendMessage.Close],
    ['Terminate', FrontendMessage.Terminate],
  ])('a %s over 10,000 bytes is a protocol violation, as PostgreSQL has it, ended before its body is read', async (_name, type) => {
    const raw = await RawClient.session(proxy.port);
    const header = Buffer.alloc(5);
    header[0] = type;
    header.writeInt32BE(500_000, 1);
    raw.send(header);
    await expectFatal(raw, '08P01', /invalid message length 500000/);
  });

  it('a Sync of 10,000 bytes is PostgreSQL\'s to judge: it reads one that long, refuses it, and the session goes on', async () => {
    const raw = await RawClient.session(proxy.port);
    const sync = Buffer.alloc(10_001);
    sync[0] = FrontendMessage.Sync;
    sync.writeInt32BE(10_000, 1);
    raw.send(sync);
    const answer = await raw.until('readyForQuery');
    expect(answer.map((message) => message.name)).toEqual(['error', 'readyForQuery']);
    expect(answer[0]).toMatchObject({ code: '08P01', message: 'invalid message format' });
    expect((await raw.query('SELECT 1')).map((message) => message.name)).toContain('commandComplete');
  });

  it('a message over --max-message-size gets 54000 with a hint', async () => {
    const raw = await RawClient.session(proxy.port);
    raw.send(serialize.query(`SELECT '${'z'.repeat(2 * 1024 * 1024)}'`));
    const [error] = await raw.until('error');
    expect(error).toMatchObject({ severity: 'FATAL', code: '54000', hint: expect.stringContaining('--max-message-size') });
    await raw.untilClosed();
  });

  it('an unknown message type is refused by the upstream and relayed', async () => {
    const raw = await RawClient.session(proxy.port);
    raw.send(Buffer.from([0x7e, 0, 0, 0, 4]));
    await expectFatal(raw, '08P01', /invalid frontend message type 126/);
  });

  it('half a message and a hang-up leave nothing behind', async () => {
    const before = proxy.listener.stats.connectionsOpen;
    const raw = await RawClient.session(proxy.port);
    raw.socket.end(serialize.query('SELECT 1').subarray(0, 7));
    await expect.poll(() => proxy.listener.stats.connectionsOpen).toBe(before);
  });

  it('after all of that the proxy still serves', async () => {
    const result = await psql(['-c', 'SELECT 42'], { port: proxy.port });
    expect(result.stdout.trim()).toBe('42');
    expect(proxy.listener.stats.proxyErrors).toBeGreaterThan(0);
    expect(proxy.listener.stats.connectionsRejected).toBeGreaterThan(0);
  });
});

/** A message of this type with this body, its length field right. */
function message(type: string, body: Buffer): Buffer {
  return Buffer.concat([Buffer.from(type), int32(4 + body.length), body]);
}

/**
 * What a session answers to each Query or Sync of the steps (up to its ReadyForQuery): message names, with errors
 * and notices by severity and SQLSTATE, and the transaction status.
 */
async function transcript(port: number, steps: Buffer[][]): Promise<string[][]> {
  const raw = await RawClient.session(port);
  const answers: string[][] = [];
  for (const step of steps) {
    raw.send(...step);
    for (const _ready of step.filter((sent) => sent[0] === 'Q'.charCodeAt(0) || sent[0] === 'S'.charCodeAt(0))) {
      const answer = await raw.until('readyForQuery');
      answers.push(answer.map(summary));
    }
  }
  raw.end();
  return answers;
}

function summary(received: { name: string }): string {
  const { name, severity, code, status } = received as { name: string; severity?: string; code?: string; status?: string };
  return [name, severity, code, status].filter((part) => part !== undefined).join(' ');
}

/** After a malformed message: the session answers in the simple and extended protocols, and in a transaction block. */
function andAfterwards(bad: Buffer[]): Buffer[][] {
  return [
    [serialize.query('SELECT 1')],
    [serialize.parse({ text: 'SELECT 1' }), serialize.bind({}), serialize.describe({ type: 'P' }), serialize.execute({}), serialize.sync()],
    [serialize.query('BEGIN')],
    bad,
    [serialize.query('SELECT 1')],
    [serialize.query('ROLLBACK')],
    [serialize.query('SELECT 1')],
  ];
}

const DESCRIBE_X = message('D', Buffer.from('X\0'));

describe('malformed message contents', () => {
  // Once the session has a prepared statement the proxy keeps track of, it reads every Bind and Close.
  const TRACKED = [serialize.parse({ name: 'cancel', text: 'SELECT pg_cancel_backend($1)' }), serialize.sync()];
  const CANCEL = [...Buffer.from('cancel'), 0];

  it.each([
    ['a Close of kind X', message('C', Buffer.from('X\0'))],
    ['a Bind short of its parameters', message('B', Buffer.from([0, ...CANCEL, 0, 0, 0, 5]))],
    ['a Bind without its result formats', message('B', Buffer.from([0, ...CANCEL, 0, 0, 0, 1, 0, 0, 0, 1, 0x31]))],
    ['a Parse without its parameter count', message('P', Buffer.from('\0SELECT pg_cancel_backend($1)\0'))],
  ])('%s gets an ERROR 08P01 in its place as from PostgreSQL, and the session goes on', async (_name, bad) => {
    const steps = [TRACKED, [bad, serialize.sync()], ...andAfterwards([bad, serialize.sync()])];
    const expected = await transcript(cluster().port, steps);
    expect(expected[1]).toEqual(['error ERROR 08P01', 'readyForQuery I']);
    expect(await transcript(proxy.port, steps)).toEqual(expected);
    expect(errorsLogged).toEqual([]);
  });

  it('a Query without its terminator gets an ERROR 08P01 as from PostgreSQL, and the session goes on', async () => {
    const bad = message('Q', Buffer.from('SELECT pg_cancel_backend(0)'));
    const steps = [[bad], ...andAfterwards([bad])];
    const expected = await transcript(cluster().port, steps);
    expect(expected[0]).toEqual(['error ERROR 08P01', 'readyForQuery I']);
    expect(await transcript(proxy.port, steps)).toEqual(expected);
    expect(errorsLogged).toEqual([]);
  });

  it('behind a statement the proxy runs itself, the statement keeps its answer and the malformed message gets its ERROR', async () => {
    const steps = [
      [serialize.query('SELECT pg_cancel_backend(0) AS cancelled'), serialize.parse({ text: 'SELECT 1' }), DESCRIBE_X, serialize.sync()],
      ...andAfterwards([DESCRIBE_X, serialize.sync()]),
    ];
    const expected = await transcript(cluster().port, steps);
    expect(expected[0]).toContain('dataRow');
    expect(expected[1]).toEqual(['parseComplete', 'error ERROR 08P01', 'readyForQuery I']);
    expect(await transcript(proxy.port, steps)).toEqual(expected);
    expect(errorsLogged).toEqual([]);
  });

  it('is told in PostgreSQL\'s words', async () => {
    const raw = await RawClient.session(proxy.port);
    raw.send(...TRACKED, message('C', Buffer.from('X\0')), serialize.sync());
    await raw.until('readyForQuery');
    const [error] = (await raw.until('readyForQuery')).filter((m) => m.name === 'error');
    expect(error).toMatchObject({ severity: 'ERROR', code: '08P01', message: 'invalid CLOSE message subtype 88' });
    raw.end();
  });
});
