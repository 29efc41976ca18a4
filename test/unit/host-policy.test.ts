// The host policies judge an IPv6 address that embeds an IPv4 one as that IPv4 address: NAT64 (64:ff9b::/96 and the
// local-use 64:ff9b:1::/48), 6to4, Teredo, IPv4-compatible, -mapped and -translated forms of link-local, metadata,
// loopback and private addresses are refused as they are. Most of these forms cannot be connected to here (they need
// a NAT64 gateway, a relay or a tunnel), so the policies are asked directly; test/integration/provider-hosts.test.ts
// connects where it can.

import { describe, expect, it } from 'vitest';
import { embeddedIPv4 } from '../../src/providers/embedded-ipv4.js';
import { DocumentHostPolicy, HostPolicy } from '../../src/providers/host-policy.js';

const ANYWHERE = new HostPolicy({ allow: [{ address: '0.0.0.0', prefix: 0, family: 'ipv4' }, { address: '::', prefix: 0, family: 'ipv6' }], deny: [] });
const DEFAULT = new HostPolicy({ allow: [], deny: [] });
const DOCUMENTS = new DocumentHostPolicy(() => DEFAULT, []);

/** 169.254.169.254 (a9fe:a9fe) and 100.100.100.200 (6464:64c8), the metadata endpoints, in each IPv6 form. */
const METADATA_FORMS = [
  '::ffff:169.254.169.254',
  '::ffff:a9fe:a9fe',
  '::ffff:0:a9fe:a9fe',
  '::169.254.169.254',
  '64:ff9b::a9fe:a9fe',
  '64:ff9b::6464:64c8',
  '64:ff9b:1::a9fe:a9fe',
  '64:ff9b:1:a9fe:a9:fe00::',
  '64:ff9b:1:a9:fe:a9fe::',
  '64:ff9b:1:0:a9:fea9:fe00:0',
  '2002:a9fe:a9fe::1',
  '2002:6464:64c8:1::',
  // Teredo: the client's address is stored with every bit flipped (5601:5601 is 169.254.169.254).
  '2001:0:4136:e378:8000:63bf:5601:5601',
];

/** 127.0.0.1, 10.1.2.3, 192.168.0.1 and 100.64.0.1 (shared address space) in IPv6 forms. */
const INTERNAL_FORMS = [
  '::ffff:0:7f00:1',
  '::7f00:1',
  '64:ff9b::7f00:1',
  '64:ff9b::a01:203',
  '64:ff9b:1::c0a8:1',
  '64:ff9b:1:a01:2:300::',
  '2002:a01:203::1',
  '2002:6440:1::1',
  '2001:0:4136:e378:8000:63bf:80ff:fffe',
];

/** Public addresses in the same forms (8.8.8.8 is 808:808), and IPv6 loopback, which embed nothing refused. */
const PUBLIC_FORMS = ['::ffff:808:808', '64:ff9b::808:808', '64:ff9b:1::808:808', '64:ff9b:1:808:8:800::', '2002:808:808::1', '2001:0:4136:e378:8000:63bf:f7f7:f7f7', '2001:db8::1'];

describe('IPv6 forms of IPv4 addresses', () => {
  it('are refused for a model where the IPv4 address is, whatever the operator allows', () => {
    for (const address of METADATA_FORMS) expect({ address, permitted: ANYWHERE.permits(address, address) }).toEqual({ address, permitted: false });
    for (const address of [...PUBLIC_FORMS, ...INTERNAL_FORMS, '::1']) expect({ address, permitted: ANYWHERE.permits(address, address) }).toEqual({ address, permitted: true });
  });

  it("are refused where the operator's deny list names the IPv4 address", () => {
    const noPrivate = new HostPolicy({ allow: [], deny: [{ address: '127.0.0.0', prefix: 8, family: 'ipv4' }, { address: '10.0.0.0', prefix: 8, family: 'ipv4' }] });
    for (const address of ['::7f00:1', '64:ff9b::7f00:1', '64:ff9b::a01:203', '2002:a01:203::1', '2001:0:4136:e378:8000:63bf:80ff:fffe']) {
      expect({ address, permitted: noPrivate.permits(address, address) }).toEqual({ address, permitted: false });
    }
    expect(noPrivate.permits('64:ff9b::808:808', '64:ff9b::808:808')).toBe(true);
  });

  it('count as internal for a document where the IPv4 address is internal, and an allow list admits them only as written', () => {
    for (const address of [...INTERNAL_FORMS, ...METADATA_FORMS]) expect({ address, permitted: DOCUMENTS.permits(address, address) }).toEqual({ address, permitted: false });
    for (const address of PUBLIC_FORMS) expect({ address, permitted: DOCUMENTS.permits(address, address) }).toEqual({ address, permitted: true });
    const allowingTen = new DocumentHostPolicy(() => DEFAULT, [{ address: '10.0.0.0', prefix: 8, family: 'ipv4' }]);
    expect(allowingTen.permits('10.1.2.3', '10.1.2.3')).toBe(true);
    expect(allowingTen.permits('64:ff9b::a01:203', '64:ff9b::a01:203')).toBe(false);
  });

  it('are read where RFC 6052 puts the IPv4 address, for every prefix length the local-use NAT64 prefix may have', () => {
    expect(embeddedIPv4('64:ff9b:1:a9fe:a9:fe00::')).toEqual(['169.254.169.254', '254.169.254.0', '169.254.0.0']);
    expect(embeddedIPv4('64:ff9b:1::808:808')).toEqual(['8.8.8.8']);
    expect(embeddedIPv4('::ffff:127.0.0.1')).toEqual(['127.0.0.1']);
    expect(embeddedIPv4('2001:db8::1')).toEqual([]);
    expect(embeddedIPv4('::1')).toEqual([]);
    expect(embeddedIPv4('10.0.0.1')).toEqual([]);
  });
});
