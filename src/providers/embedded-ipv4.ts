// The IPv4 addresses an IPv6 address leads to, so that the host policies (host-policy.ts) judge an address by where a
// connection to it goes, whatever its spelling: an IPv4-mapped (::ffff:a.b.c.d) or IPv4-translated
// (::ffff:0:a.b.c.d) address is the IPv4 host itself to this host's stack; an IPv4-compatible one (::a.b.c.d) is
// tunnelled to it where a tunnel is configured; a NAT64 address is translated to it by the network's gateway; a 6to4
// address (2002::/16) is relayed to it; a Teredo address (2001::/32) names a server and, obfuscated, a client.

import { isIP } from 'node:net';

/**
 * The IPv4 addresses `address` embeds, none if it is no such form. In the local-use NAT64 prefix (64:ff9b:1::/48,
 * RFC 8215) the network chooses the prefix length, and so where the IPv4 address sits: every place RFC 6052 allows
 * within it counts where the bits after it are zero, as that RFC has them, except a reading in 0.0.0.0/8, which is
 * the zeros around an address placed elsewhere.
 */
export function embeddedIPv4(address: string): string[] {
  const bytes = ipv6Bytes(address);
  if (!bytes) return [];
  const starts = (...prefix: number[]): boolean => prefix.every((byte, index) => bytes[index] === byte);
  const at = (...indices: number[]): string => indices.map((index) => bytes[index]).join('.');
  const last = at(12, 13, 14, 15);
  if (starts(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff)) return [last];
  if (starts(0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0)) return [last];
  // :: and ::1 are no IPv4 address written as IPv6.
  if (starts(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)) return starts(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0) && bytes[15]! <= 1 ? [] : [last];
  if (starts(0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0)) return [last];
  // Bits 64 to 71 of an RFC 6052 address are reserved (the "u" octet): the IPv4 address goes around them.
  if (starts(0, 0x64, 0xff, 0x9b, 0, 1)) {
    const zeroFrom = (index: number): boolean => bytes.subarray(index).every((byte) => byte === 0);
    const readings = [zeroFrom(11) && at(6, 7, 9, 10), zeroFrom(12) && at(7, 9, 10, 11), zeroFrom(13) && at(9, 10, 11, 12), last];
    return [...new Set(readings)].filter((reading): reading is string => reading !== false && !reading.startsWith('0.'));
  }
  if (starts(0x20, 0x02)) return [at(2, 3, 4, 5)];
  // The client's address, where the relay sends; the server's is only the client's to use.
  if (starts(0x20, 0x01, 0, 0)) return [bytes.subarray(12).map((byte) => byte ^ 0xff).join('.')];
  return [];
}

/** The 16 bytes of an IPv6 address; undefined for anything else. */
function ipv6Bytes(address: string): Uint8Array | undefined {
  if (isIP(address) !== 6) return undefined;
  let text = address.replace(/%.*$/, '');
  const quad = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (quad) {
    const [a, b, c, d] = quad.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, quad.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const groups = (part: string): string[] => (part === '' ? [] : part.split(':'));
  const front = groups(head);
  const back = tail === undefined ? [] : groups(tail);
  const all = [...front, ...Array<string>(8 - front.length - back.length).fill('0'), ...back];
  return Uint8Array.from(all.flatMap((group) => [parseInt(group, 16) >> 8, parseInt(group, 16) & 0xff]));
}
