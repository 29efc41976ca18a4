// SCRAM channel binding of type tls-server-end-point (RFC 5929 §4.1): the hash of the TLS server's certificate, made
// with the hash function of the certificate's signature algorithm, SHA-256 where that is MD5 or SHA-1. Node does not
// tell the signature algorithm, so it is read from the certificate's DER. A certificate signed otherwise (Ed25519,
// RSA-PSS) has no binding: the exchange is then offered without it, as PostgreSQL does.

import { createHash } from 'node:crypto';
import tls from 'node:tls';

/** Hash function by the DER contents of the signature algorithm's object identifier. */
const HASH_OF_SIGNATURE: Record<string, string> = {
  '2a864886f70d010104': 'sha256', // md5WithRSAEncryption
  '2a864886f70d010105': 'sha256', // sha1WithRSAEncryption
  '2a864886f70d01010e': 'sha224', // sha224WithRSAEncryption
  '2a864886f70d01010b': 'sha256', // sha256WithRSAEncryption
  '2a864886f70d01010c': 'sha384', // sha384WithRSAEncryption
  '2a864886f70d01010d': 'sha512', // sha512WithRSAEncryption
  '2a8648ce3d0401': 'sha256', // ecdsa-with-SHA1
  '2a8648ce3d040301': 'sha224', // ecdsa-with-SHA224
  '2a8648ce3d040302': 'sha256', // ecdsa-with-SHA256
  '2a8648ce3d040303': 'sha384', // ecdsa-with-SHA384
  '2a8648ce3d040304': 'sha512', // ecdsa-with-SHA512
};

const SEQUENCE = 0x30;
const OBJECT_IDENTIFIER = 0x06;

/** The binding data of the certificate the proxy presents on this client connection, if it has one. */
export function ownCertificateBinding(socket: tls.TLSSocket): Buffer | undefined {
  return endPointBinding((socket.getCertificate() as tls.PeerCertificate | null)?.raw);
}

/** The binding data of the certificate the upstream presented, if the connection is TLS and it has one. */
export function peerCertificateBinding(socket: unknown): Buffer | undefined {
  return socket instanceof tls.TLSSocket ? endPointBinding(socket.getPeerCertificate()?.raw) : undefined;
}

function endPointBinding(certificate: Buffer | undefined): Buffer | undefined {
  const hash = certificate && HASH_OF_SIGNATURE[signatureAlgorithm(certificate) ?? ''];
  return hash ? createHash(hash).update(certificate).digest() : undefined;
}

/** Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm AlgorithmIdentifier, signature }. */
function signatureAlgorithm(der: Buffer): string | undefined {
  const certificate = element(der, 0, SEQUENCE);
  const tbs = certificate && element(der, certificate.start, SEQUENCE);
  const algorithm = tbs && element(der, tbs.end, SEQUENCE);
  const oid = algorithm && element(der, algorithm.start, OBJECT_IDENTIFIER);
  return oid && der.toString('hex', oid.start, oid.end);
}

/** Where the contents of the DER element at `offset` lie, if it has the expected tag and fits. */
function element(der: Buffer, offset: number, tag: number): { start: number; end: number } | undefined {
  if (der[offset] !== tag || offset + 2 > der.length) return undefined;
  let length = der[offset + 1]!;
  let start = offset + 2;
  if (length & 0x80) {
    const bytes = length & 0x7f;
    if (bytes === 0 || bytes > 4 || start + bytes > der.length) return undefined;
    length = der.readUIntBE(start, bytes);
    start += bytes;
  }
  const end = start + length;
  return end <= der.length ? { start, end } : undefined;
}
