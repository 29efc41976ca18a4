// Once half the places for starting connections are taken, one host holds a tenth of them at most: an IPv6 host
// counts by its /64, which it may connect from any address of.

import { describe, expect, it } from 'vitest';
import { clientHost } from '../../proxy/starting-connections.js';

describe('the host a client address counts for', () => {
  it('is an IPv6 address\'s /64, however the address is written', () => {
    const hosts = ['2001:db8:1:2::1', '2001:db8:1:2:ffff:ffff:ffff:ffff', '2001:0db8:0001:0002:0:0:0:7', '2001:DB8:1:2::abcd%eth0'].map(clientHost);
    expect(new Set(hosts)).toEqual(new Set(['2001:db8:1:2::/64']));
    expect(clientHost('2001:db8:1:3::1')).toBe('2001:db8:1:3::/64');
    expect(clientHost('2001:db8::1')).toBe('2001:db8:0:0::/64');
    expect(clientHost('::1')).toBe('::1');
  });

  it('is an IPv4 address itself, mapped into IPv6 or not', () => {
    expect(clientHost('::ffff:192.0.2.7')).toBe('192.0.2.7');
    expect(clientHost('192.0.2.7')).toBe('192.0.2.7');
    expect(clientHost('127.0.0.2')).toBe('127.0.0.2');
  });
});
