// Starts the proxy in-process against the test cluster, on a free port, and builds client connection settings.

import { readFileSync } from 'node:fs';
import { pino, type Logger } from 'pino';
import { inject } from 'vitest';
import type { AuthRole } from '../../proxy/auth-query.js';
import { ProxyListener, type ListenerOptions } from '../../proxy/listener.js';
import { masterKey } from '../../src/crypto/secrets.js';
import { loadParser } from '../../src/sql/parse.js';
import type { ArgumentLimits } from '../../src/intercept/argument-limits.js';
import type { CallOptions } from '../../src/intercept/calls.js';
import { interceptionEngine } from '../../src/intercept/engine.js';
import { startupRefusal } from '../../src/intercept/startup-refusal.js';
import { DefaultProviders, type DefaultSources } from '../../src/providers/default-provider.js';
import type { UpstreamTarget } from '../../proxy/upstream.js';
import { ROLES, type ClusterInfo } from './cluster.js';

export type Role = keyof typeof ROLES | 'postgres';

export interface TestProxy {
  host: string;
  port: number;
  listener: ProxyListener;
  options: ListenerOptions;
  stop(): Promise<void>;
}

export function cluster(): ClusterInfo {
  return inject('cluster');
}

export function upstreamTarget(overrides: Partial<UpstreamTarget> = {}): UpstreamTarget {
  const { host, port } = cluster();
  return { host, port, sslMode: 'disable', connectTimeoutMs: 5000, ...overrides };
}

export interface ProxyOptions {
  /** Where it listens; by default 127.0.0.1 on a free port. */
  host?: string;
  port?: number;
  /** Also listen on a Unix-domain socket there, as --socket-dir; none by default, so tests share no path. */
  socketDir?: string;
  upstream?: Partial<UpstreamTarget>;
  tls?: boolean;
  maxMessageSize?: number;
  startupTimeoutMs?: number;
  maxStartingConnections?: number;
  /** Relay only, without the LLM functions. */
  passThrough?: boolean;
  masterKey?: string;
  /** Keys that only open secrets, as --previous-master-keys. */
  previousMasterKeys?: string[];
  callConcurrency?: number;
  /** As --max-argument-bytes and --max-statement-argument-bytes; the proxy's defaults unless set. */
  argumentLimits?: ArgumentLimits;
  /** What one login role's sessions may keep in the proxy together, in bytes; the proxy's defaults unless set. */
  roleBytes?: CallOptions['roleBytes'];
  /** Server-wide pg_llm.* defaults, as --settings. */
  settings?: Record<string, string>;
  /** Where the default model comes from; by default nothing is configured, whatever this process's environment. */
  defaults?: DefaultSources;
  /** The auth role: the proxy then authenticates SCRAM clients itself. */
  authRole?: AuthRole;
  /** Where the proxy logs; by default PG_LLM_TEST_LOG_LEVEL (silent) on stdout. */
  log?: Logger;
}

export async function startProxy(options: ProxyOptions = {}): Promise<TestProxy> {
  const info = cluster();
  await loadParser();
  const listenerOptions: ListenerOptions = {
    host: options.host ?? '127.0.0.1',
    port: options.port ?? 0,
    socketDir: options.socketDir,
    target: upstreamTarget(options.upstream),
    maxMessageSize: options.maxMessageSize ?? 1024 ** 3 - 1,
    startupTimeoutMs: options.startupTimeoutMs ?? 10_000,
    maxStartingConnections: options.maxStartingConnections ?? 1000,
    log: options.log ?? pino({ level: process.env.PG_LLM_TEST_LOG_LEVEL ?? 'silent' }),
    authRole: options.authRole,
  };
  if (!options.passThrough) {
    const keys = [options.masterKey ?? 'test master key', ...(options.previousMasterKeys ?? [])].map(masterKey);
    listenerOptions.startupRefusal = startupRefusal;
    listenerOptions.interceptors = interceptionEngine({
      masterKeys: keys,
      concurrency: options.callConcurrency ?? 16,
      defaults: new DefaultProviders({ masterKeys: keys, ...(options.defaults ?? { env: {} }) }),
      ...(options.settings ? { settingDefaults: options.settings } : {}),
      ...(options.argumentLimits ? { argumentLimits: options.argumentLimits } : {}),
      ...(options.roleBytes ? { roleBytes: options.roleBytes } : {}),
    });
  }
  if (options.tls) listenerOptions.tls = { cert: readFileSync(info.certFile, 'utf8'), key: readFileSync(info.keyFile, 'utf8') };
  const listener = new ProxyListener(listenerOptions);
  const address = await listener.listen();
  return { host: listenerOptions.host, port: address.port, listener, options: listenerOptions, stop: () => listener.shutdown(1000) };
}

/** Connection settings for `pg` and postgres.js for one of the test roles, through the given port. */
export function connection(port: number, role: Role = 'postgres', database = 'postgres') {
  const { user, password } = role === 'postgres' ? { user: 'postgres', password: '' } : ROLES[role];
  return { host: '127.0.0.1', port, user, password, database };
}
