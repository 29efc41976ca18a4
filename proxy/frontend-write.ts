// Encodes the few messages the proxy itself sends to the upstream as a frontend. The client's own StartupMessage and
// everything after it are relayed as the client wrote them.

import { RequestCode } from './protocol.js';

export function sslRequest(): Buffer {
  const packet = Buffer.alloc(8);
  packet.writeInt32BE(8, 0);
  packet.writeInt32BE(RequestCode.SSLRequest, 4);
  return packet;
}

/** A CancelRequest; `secret` is 4 bytes in protocol 3.0 and up to 256 in 3.2. */
export function cancelRequest(processId: number, secret: Buffer): Buffer {
  const packet = Buffer.alloc(12 + secret.length);
  packet.writeInt32BE(packet.length, 0);
  packet.writeInt32BE(RequestCode.CancelRequest, 4);
  packet.writeInt32BE(processId, 8);
  secret.copy(packet, 12);
  return packet;
}

export function terminate(): Buffer {
  return Buffer.from([0x58, 0, 0, 0, 4]);
}
