// tls-server-end-point binding data on real TLS connections, for certificates signed with different hashes.

import { execFileSync } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { describe, expect, it } from 'vitest';
import { ownCertificateBinding, peerCertificateBinding } from '../../proxy/channel-binding.js';

/** A self-signed certificate made by openssl with the given key and signature options. */
function certificate(name: string, keyOptions: string[], digest: string[]): { cert: string; key: string } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'pg-llm-binding-'));
  const [cert, key] = [path.join(dir, `${name}.crt`), path.join(dir, `${name}.key`)];
  execFileSync('openssl', ['req', '-x509', ...keyOptions, ...digest, '-nodes', '-days', '1', '-subj', '/CN=localhost', '-keyout', key, '-out', cert], { stdio: 'pipe' });
  return { cert: readFileSync(cert, 'utf8'), key: readFileSync(key, 'utf8') };
}

/** Both ends' binding data over one loopback TLS connection. */
async function bindings(pem: { cert: string; key: string }): Promise<{ server: Buffer | undefined; client: Buffer | undefined }> {
  const listener = tls.createServer(pem);
  const serverSide = once(listener, 'secureConnection') as Promise<[tls.TLSSocket]>;
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  const socket = tls.connect({ host: '127.0.0.1', port: (listener.address() as AddressInfo).port, rejectUnauthorized: false });
  await once(socket, 'secureConnect');
  const [accepted] = await serverSide;
  const found = { server: ownCertificateBinding(accepted), client: peerCertificateBinding(socket) };
  socket.destroy();
  accepted.destroy();
  listener.close();
  return found;
}

describe('tls-server-end-point', () => {
  it.each([
    ['RSA with SHA-256', ['-newkey', 'rsa:2048'], ['-sha256'], 'sha256'],
    ['RSA with SHA-1, hashed with SHA-256', ['-newkey', 'rsa:2048'], ['-sha1'], 'sha256'],
    ['ECDSA with SHA-384', ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-384'], ['-sha384'], 'sha384'],
    ['ECDSA with SHA-512', ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'], ['-sha512'], 'sha512'],
  ])('hashes a certificate signed %s the same on both ends', async (name, keyOptions, digest, hash) => {
    const pem = certificate(name.replace(/\W+/g, '-'), keyOptions, digest);
    const expected = createHash(hash).update(new X509Certificate(pem.cert).raw).digest();
    expect(await bindings(pem)).toEqual({ server: expected, client: expected });
  });

  it('has none for a certificate whose signature names no hash (Ed25519)', async () => {
    expect(await bindings(certificate('ed25519', ['-newkey', 'ed25519'], []))).toEqual({ server: undefined, client: undefined });
  });

  it('has none for a connection without TLS', () => {
    expect(peerCertificateBinding({})).toBeUndefined();
  });
});
