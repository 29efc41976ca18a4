// TLS ends at the proxy (its own certificate) and is negotiated separately towards the upstream.

import { readFileSync } from 'node:fs';
import net from 'node:net';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROLES } from '../support/cluster.js';
import { cluster, connection, startProxy, type TestProxy } from '../support/proxy.js';
import { psql } from '../support/psql.js';
import { StalledTlsUpstream } from '../support/stalled-tls-upstream.js';

const SSL_IN_USE = 'SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()';

describe('client TLS', () => {
  let withTls: TestProxy;
  let withoutTls: TestProxy;
  beforeAll(async () => {
    withTls = await startProxy({ tls: true });
    withoutTls = await startProxy();
  });
  afterAll(async () => {
    await withTls.stop();
    await withoutTls.stop();
  });

  it('serves the configured certificate: psql verify-full against the test CA', async () => {
    const result = await psql(['-c', 'SELECT 1'], {
      port: withTls.port,
      params: { sslmode: 'verify-full', sslrootcert: cluster().caFile, host: 'localhost' },
    });
    expect(result.stderr).toBe('');
    expect(result.stdout.trim()).toBe('1');
  });

  it('carries SCRAM over TLS with pg, and hides SCRAM-SHA-256-PLUS from the client', async () => {
    const client = new pg.Client({ ...connection(withTls.port, 'scram'), ssl: { ca: readFileSync(cluster().caFile, 'utf8') } });
    await client.connect();
    expect((await client.query('SELECT current_user AS who')).rows).toEqual([{ who: ROLES.scram.user }]);
    await client.end();
    // channel_binding=require needs SCRAM-SHA-256-PLUS; the proxy must not offer it (the binding could not reach the upstream).
    const bound = await psql(['-c', 'SELECT 1'], {
      port: withTls.port,
      user: ROLES.scram.user,
      password: ROLES.scram.password,
      params: { sslmode: 'require', channel_binding: 'require' },
    });
    expect(bound.status).not.toBe(0);
    expect(bound.stderr).toMatch(/channel binding/);
  });

  it('answers N without a certificate: sslmode=require fails, prefer falls back to plain', async () => {
    const required = await psql(['-c', 'SELECT 1'], { port: withoutTls.port, params: { sslmode: 'require' } });
    expect(required.status).not.toBe(0);
    expect(required.stderr).toMatch(/server does not support SSL/);
    const preferred = await psql(['-c', 'SELECT 1'], { port: withoutTls.port, params: { sslmode: 'prefer' } });
    expect(preferred.stdout.trim()).toBe('1');
  });

  it('answers GSSENCRequest with N so the client goes on', async () => {
    const result = await psql(['-c', 'SELECT 1'], { port: withoutTls.port, params: { gssencmode: 'prefer' } });
    expect(result.stdout.trim()).toBe('1');
  });

  // PostgreSQL negotiates each once, and reads a repeat as protocol 1234.567x: a client sending requests without end,
  // never reading, would otherwise have each answered, the answers piling up in the proxy.
  it.each([
    ['SSLRequest', 80877103, '1234.5679'],
    ['GSSENCRequest', 80877104, '1234.5680'],
  ])('refuses a second %s with FATAL 0A000 and closes, as PostgreSQL does', async (_name, code, version) => {
    const packet = Buffer.alloc(8);
    packet.writeInt32BE(8, 0);
    packet.writeInt32BE(code, 4);
    const socket = net.connect({ host: '127.0.0.1', port: withoutTls.port });
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk)).on('error', () => {});
    socket.once('connect', () => socket.write(Buffer.concat([packet, packet, packet])));
    await new Promise((resolve) => socket.once('close', resolve));
    const answer = Buffer.concat(chunks);
    expect(answer.subarray(0, 2).toString()).toBe('NE');
    const error = answer.subarray(6).toString();
    expect(error).toContain('C0A000');
    expect(error).toContain(`unsupported frontend protocol ${version}`);
  });
});

describe('upstream TLS', () => {
  it('verify-full with the CA: the upstream session is encrypted while the client leg is plain', async () => {
    const proxy = await startProxy({ upstream: { host: 'localhost', sslMode: 'verify-full', sslRootCert: readFileSync(cluster().caFile, 'utf8') } });
    const result = await psql(['-c', SSL_IN_USE], { port: proxy.port });
    expect(result.stdout.trim()).toBe('t');
    await proxy.stop();
  });

  it('disable keeps the upstream session plain', async () => {
    const proxy = await startProxy({ upstream: { sslMode: 'disable' } });
    expect((await psql(['-c', SSL_IN_USE], { port: proxy.port })).stdout.trim()).toBe('f');
    await proxy.stop();
  });

  it('a certificate the CA did not sign is refused with a FATAL 08006 naming the upstream', async () => {
    const selfSigned = readFileSync(cluster().certFile, 'utf8'); // a leaf, not the CA: verification must fail
    const proxy = await startProxy({ upstream: { host: 'localhost', sslMode: 'verify-full', sslRootCert: selfSigned } });
    const client = new pg.Client(connection(proxy.port));
    const error = await client.connect().catch((caught: unknown) => caught);
    expect(error).toMatchObject({ code: '08006', severity: 'FATAL' });
    expect(String((error as Error).message)).toMatch(/could not connect to the upstream server at localhost:\d+/);
    await proxy.stop();
  });

  it('a TLS handshake the upstream never finishes fails at the connect timeout with a FATAL 08006', async () => {
    const stalled = await StalledTlsUpstream.start();
    const proxy = await startProxy({ upstream: { port: stalled.port, sslMode: 'require', connectTimeoutMs: 300 } });
    try {
      const client = new pg.Client(connection(proxy.port));
      // A hang guard, not a measure: without a bound on the handshake the client waits for ever.
      const guard = new Promise((resolve) => setTimeout(() => resolve('still waiting'), 10_000));
      const error = await Promise.race([client.connect().catch((caught: unknown) => caught), guard]);
      expect(error).toMatchObject({ code: '08006', severity: 'FATAL' });
      expect(String((error as Error).message)).toMatch(/could not connect to the upstream server at .+: no TLS handshake: timeout after 300 ms/);
      expect(stalled.stalled).toBe(1);
    } finally {
      await proxy.stop();
      await stalled.stop();
    }
  });
});
