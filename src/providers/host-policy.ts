// Which addresses a model's base_url may make the proxy connect to. Any role may register a model and choose its
// base_url, so the operator's policy (--provider-hosts-allow, --provider-hosts-deny) is applied where the socket is
// opened, to the address the name resolved to at that moment: a name that resolves to a metadata endpoint, or
// resolves elsewhere the second time it is asked (DNS rebinding), cannot pass. Link-local addresses and the cloud
// metadata endpoints are refused whatever the operator says: they hand out the proxy host's own credentials. So
// are the unspecified addresses (0.0.0.0/8, ::): they name no host, yet a connection to them reaches the proxy
// host's own loopback, past an operator's deny of 127.0.0.0/8 and ::1. A document a role names (pgai's
// ai.loading_uri) is read back into its table, so its policy is stricter: no internal address the operator has not
// allowed. An address that embeds an IPv4 address (NAT64, 6to4, Teredo, IPv4-mapped…) is refused where that
// address would be (embedded-ipv4.ts); an allow list admits only what it names as written. Neither a model nor a
// document is ever asked for at a port this process listens on, at this host's own addresses: the admin server
// trusts loopback without a token, and an answer's text, an error page's included, goes back to the role that chose
// the URL. To a model's caller that refusal reads as a closed port does (http.ts), so it tells no role which ports
// are the proxy's.

import { BlockList, isIP, type LookupFunction } from 'node:net';
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { buildConnector } from 'undici';
import { currentAsker, shareOf } from './asker.js';
import { CallLimit } from './call-limit.js';
import { embeddedIPv4 } from './embedded-ipv4.js';
import { isOwnAddress, isOwnPort } from '../../proxy/own-ports.js';
import { PgError } from '../../proxy/pg-error.js';
import type { HostEntry, ProviderHosts } from '../config.js';

const ALWAYS_DENIED: HostEntry[] = [
  // "This network" and the unspecified address; http://0/, 0x0 and ::ffff:0.0.0.0 become these once parsed.
  { address: '0.0.0.0', prefix: 8, family: 'ipv4' },
  { address: '::', prefix: 128, family: 'ipv6' },
  { address: '169.254.0.0', prefix: 16, family: 'ipv4' },
  { address: 'fe80::', prefix: 10, family: 'ipv6' },
  // AWS's IPv6 metadata endpoint and Alibaba Cloud's.
  { address: 'fd00:ec2::254', prefix: 128, family: 'ipv6' },
  { address: '100.100.100.200', prefix: 32, family: 'ipv4' },
];

/**
 * A connection to a port this process listens on, at one of this host's own addresses: refused whatever the policy
 * says. Not a PgError: a model's caller is told what a closed port tells it (http.ts); the proxy's log has the code.
 */
export class OwnPortRefused extends Error {
  readonly code = 'EOWNPORT';
  constructor() {
    super("a port this process listens on, at this host's own address");
  }
}

/** The operator's policy, not the network, stopped the call. */
export class HostRefused extends PgError {
  constructor(host: string) {
    super('42501', `the operator's provider-host policy refuses ${host}`, {
      hint: 'The proxy\'s --provider-hosts-allow and --provider-hosts-deny (PG_LLM_PROVIDER_HOSTS_ALLOW, PG_LLM_PROVIDER_HOSTS_DENY) decide which hosts a model may call; link-local, cloud metadata and unspecified (0.0.0.0, ::) addresses are always refused.',
    });
  }
}

interface Matcher {
  names: string[];
  addresses: BlockList;
  empty: boolean;
}

function matcher(entries: HostEntry[]): Matcher {
  const addresses = new BlockList();
  const names: string[] = [];
  for (const entry of entries) {
    if ('name' in entry) names.push(entry.name);
    else addresses.addSubnet(entry.address, entry.prefix, entry.family);
  }
  return { names, addresses, empty: entries.length === 0 };
}

/** A name entry matches the host as the URL names it; *.example.com, its subdomains. */
function named({ names }: Matcher, name: string): boolean {
  const host = name.toLowerCase().replace(/\.$/, '');
  return names.some((entry) => (entry.startsWith('*.') ? host.endsWith(entry.slice(1)) : host === entry));
}

/** An IPv4 address written as IPv6 (::ffff:a.b.c.d) matches the IPv4 ranges too: BlockList sees through it. */
function inRanges({ addresses }: Matcher, address: string): boolean {
  return addresses.check(address, isIP(address) === 4 ? 'ipv4' : 'ipv6');
}

/** What an allow list admits: the name, or the address as written. */
function matches(matcher: Matcher, name: string, address: string): boolean {
  return named(matcher, name) || inRanges(matcher, address);
}

/** The address and the IPv4 addresses it embeds: where a connection to it may end up. */
function reachedAddresses(address: string): string[] {
  return [address, ...embeddedIPv4(address)];
}

/** What a deny list refuses: the name, the address, or an IPv4 address it embeds. */
function reaches(matcher: Matcher, name: string, address: string): boolean {
  return named(matcher, name) || reachedAddresses(address).some((reached) => inRanges(matcher, reached));
}

/** Whether the proxy may connect to `address`, which `name` (as the URL gave it) resolved to. */
export interface AddressPolicy {
  permits(name: string, address: string): boolean;
}

export class HostPolicy implements AddressPolicy {
  private readonly allow: Matcher;
  private readonly deny: Matcher;

  constructor(hosts: ProviderHosts) {
    this.allow = matcher(hosts.allow);
    this.deny = matcher([...ALWAYS_DENIED, ...hosts.deny]);
  }

  permits(name: string, address: string): boolean {
    return !reaches(this.deny, name, address) && (this.allow.empty || matches(this.allow, name, address));
  }
}

/** Loopback, private, shared (carrier-grade NAT) and unique-local addresses: a document is fetched from them only where the operator allows it. */
const INTERNAL = matcher([
  { address: '127.0.0.0', prefix: 8, family: 'ipv4' },
  { address: '10.0.0.0', prefix: 8, family: 'ipv4' },
  { address: '172.16.0.0', prefix: 12, family: 'ipv4' },
  { address: '192.168.0.0', prefix: 16, family: 'ipv4' },
  { address: '100.64.0.0', prefix: 10, family: 'ipv4' },
  { address: '::1', prefix: 128, family: 'ipv6' },
  { address: 'fc00::', prefix: 7, family: 'ipv6' },
]);

/**
 * Where a document a role names may be fetched from (pgai's ai.loading_uri): where the provider-host policy lets
 * the proxy connect, and an internal address only where the operator's --document-hosts-allow names it.
 */
export class DocumentHostPolicy implements AddressPolicy {
  private readonly allow: Matcher;

  constructor(private readonly providers: () => HostPolicy, allow: HostEntry[]) {
    this.allow = matcher(allow);
  }

  permits(name: string, address: string): boolean {
    return this.providers().permits(name, address) && (!reaches(INTERNAL, name, address) || matches(this.allow, name, address));
  }
}

/**
 * Name lookups in flight (getaddrinfo, on libuv's threadpool of four, which scrypt and file reads share too): at most
 * one a login role (asker.ts), so one role's names whose server never answers hold one thread, not all of them, for
 * as long as the resolver waits, and never the last thread. A lookup waiting for its turn past the connect timeout
 * fails as the connection would.
 */
const lookups = new CallLimit(3, 1);

type LookupOptions = Parameters<LookupFunction>[1];
type LookupCallback = Parameters<LookupFunction>[2];

/**
 * undici's connector, refusing what the policy of the moment refuses before a socket exists: an address given as
 * such at once, a name at each resolution (every address it resolves to must pass). A connection to a port this
 * process listens on is refused at this host's own addresses whatever the policy says.
 */
export function guardedConnector(timeout: number, policy: () => AddressPolicy): buildConnector.connector {
  const refusal = (hostname: string, address: string, ownPort: boolean): Error | undefined => {
    if (!policy().permits(hostname, address)) return new HostRefused(hostname);
    if (ownPort && reachedAddresses(address).some(isOwnAddress)) return new OwnPortRefused();
    return undefined;
  };
  const lookup = (ownPort: boolean): LookupFunction => (hostname, options, callback) => {
    lookups.acquire(AbortSignal.timeout(timeout), shareOf(currentAsker())).then(
      (release) => resolve(hostname, options, ownPort, release, callback),
      (error: unknown) => callback(error as Error, '', 0),
    );
  };
  const resolve = (hostname: string, options: LookupOptions, ownPort: boolean, release: () => void, callback: LookupCallback): void => {
    dnsLookup(hostname, { ...options, all: true }, (error, found: LookupAddress[]) => {
      release();
      if (error) return callback(error, '', 0);
      const refused = found.map(({ address }) => refusal(hostname, address, ownPort)).find((reason) => reason !== undefined);
      if (refused) return callback(refused, '', 0);
      if (options.all) return (callback as unknown as (error: null, all: LookupAddress[]) => void)(null, found);
      callback(null, found[0]!.address, found[0]!.family);
    });
  };
  const connect = buildConnector({ timeout, lookup: lookup(false) });
  const connectToOwnPort = buildConnector({ timeout, lookup: lookup(true) });
  return (options, callback) => {
    const hostname = options.hostname.replace(/^\[(.*)\]$/, '$1');
    const ownPort = isOwnPort(Number(options.port) || (options.protocol === 'https:' ? 443 : 80));
    const refused = isIP(hostname) ? refusal(hostname, hostname, ownPort) : undefined;
    if (refused) return void callback(refused, null);
    (ownPort ? connectToOwnPort : connect)(options, callback);
  };
}
