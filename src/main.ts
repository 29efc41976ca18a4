#!/usr/bin/env node
// The pg-llm-proxy command: reads the configuration, resolves the default model, picks the upstream (embedded when
// none is configured and none answers), starts the proxy, the admin server and the llm.call workers (--worker),
// and shuts down gracefully on SIGTERM/SIGINT. Its subcommands: migrate, rotate-master-key, seal-secret.

import pg from 'pg';
import type { Logger } from 'pino';
import { ListenError } from '../proxy/listen-error.js';
import { ProxyListener } from '../proxy/listener.js';
import { SocketPathError } from '../proxy/unix-socket.js';
import { describeTarget, probeUpstream } from '../proxy/upstream.js';
import { startAdminServer } from './admin.js';
import { migrate } from './catalog/migrate.js';
import { rotateMasterKey } from './catalog/rotate.js';
import { ConfigError, helpText, parseCommandLine, type Config } from './config.js';
import { EmbeddedServerError } from './embedded/error.js';
import { embeddedMasterKey } from './embedded/master-key.js';
import { startEmbeddedUpstream, type EmbeddedUpstream } from './embedded/server.js';
import { isPassphrase, masterKey, sealText } from './crypto/secrets.js';
import { loadParser } from './sql/parse.js';
import { setRoleDailyBudgets } from './cost/daily-spend.js';
import { interceptionEngine } from './intercept/engine.js';
import { startupRefusal } from './intercept/startup-refusal.js';
import { collectWhenIdle } from './idle-collection.js';
import { createLogger } from './logger.js';
import { DefaultProviders } from './providers/default-provider.js';
import { configureProviderHttp } from './providers/http.js';
import { setProcessCallLimit } from './providers/limits.js';
import { setProviderLog } from './providers/provider-log.js';
import { setMaxModelLabels, setPriceTable } from './providers/metrics.js';
import { configureResponseCache } from './providers/response-cache.js';
import { readPgAiConfig } from './providers/pg-ai-config.js';
import { withoutSdkVariables } from './providers/sdk-environment.js';
import { packageVersion } from './package-root.js';
import { startWorkers } from './worker/worker.js';

const PROBE_TIMEOUT_MS = 1000;

async function main(): Promise<void> {
  const command = checked(() => parseCommandLine(process.argv.slice(2), process.env));
  if (command.kind === 'help') return void process.stdout.write(`${helpText()}\n`);
  if (command.kind === 'version') return void process.stdout.write(`${packageVersion()}\n`);
  if (command.kind === 'migrate') return onDatabase(command, 'migration', (client, log) => migrateDatabase(client, log, command.masterKeys));
  if (command.kind === 'rotate-master-key') {
    return onDatabase(command, 'master key rotation', (client, log) => rotateKeys(client, log, command.oldKeys, command.newKey));
  }
  if (command.kind === 'seal-secret') return sealSecret(command.masterKey);
  const log = createLogger(command.config.logLevel, command.config.logFormat);
  const removed = withoutSdkVariables();
  if (removed.length > 0) log.warn({ variables: removed }, "ignoring provider SDK variables that would go with every role's requests");
  const defaults = checked(() => defaultProviders(command.config, log));
  await run(command.config, defaults, log);
}

/** A configuration error ends the command with its message and exit status 2, before anything has started. */
function checked<T>(step: () => T): T {
  try {
    return step();
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`pg-llm-proxy: ${error.message}\n`);
    process.exit(2);
  }
}

function defaultProviders(config: Config, log: Logger): DefaultProviders {
  const pgAi = readPgAiConfig(config.pgAiConfig.file, config.pgAiConfig.required);
  for (const warning of pgAi?.warnings ?? []) log.warn(warning);
  const defaults = new DefaultProviders({
    env: process.env,
    model: config.defaultModel,
    pgAi: pgAi?.config,
    masterKeys: config.masterKeys.map(masterKey),
  });
  log.info({ provider: defaults.provider, chosen_by: defaults.chosenBy }, 'default LLM provider');
  return defaults;
}

async function run(config: Config, defaults: DefaultProviders, log: Logger): Promise<void> {
  const startedAt = Date.now();
  const embedded = await chooseEmbedded(config, log);
  const target = embedded?.target ?? config.upstream;
  const masterKeys = (embedded && config.masterKeys.length === 0 ? [madeMasterKey(config, log)] : config.masterKeys).map(masterKey);
  if (config.masterKeys.some(isPassphrase)) {
    log.warn('the master key is a passphrase: a sealed secret (which PostgreSQL logs with the statement that stores it when parameters are logged) lets it be guessed offline; prefer 64 hex digits (openssl rand -hex 32)');
  }
  await loadParser();
  setProcessCallLimit(config.maxModelCalls, config.maxModelCallsPerRole);
  setPriceTable(config.priceTable);
  setRoleDailyBudgets(config.roleDailyBudgets);
  setMaxModelLabels(config.metricsMaxModels);
  setProviderLog(log);
  configureProviderHttp({ maxResponseBytes: config.maxResponseBytes, maxEmbeddingResponseBytes: config.maxEmbeddingResponseBytes, hosts: config.providerHosts, documentHosts: config.documentHosts });
  configureResponseCache(config.responseCache.entries, config.responseCache.ttlSeconds, config.responseCache.bytes);
  const listener = new ProxyListener({
    host: config.listen.host,
    port: config.listen.port,
    socketDir: config.socketDir,
    socketDirOptional: !config.socketDirExplicit,
    target,
    tls: config.tls,
    authRole: config.authRole,
    maxMessageSize: config.maxMessageSize,
    startupTimeoutMs: config.startupTimeoutMs,
    maxStartingConnections: config.maxStartingConnections,
    log,
    startupRefusal,
    interceptors: interceptionEngine({
      masterKeys,
      concurrency: config.callConcurrency,
      argumentLimits: config.argumentLimits,
      defaults,
      settingDefaults: config.settingDefaults,
    }),
  });
  const address = await listener.listen();
  const admin = config.admin
    ? await startAdminServer(config.admin.host, config.admin.port, { stats: listener.stats, upstream: () => target, sessions: () => listener.sessionViews(), startedAt }, config.adminToken)
    : undefined;
  const workers = startWorkers(config.worker, { defaults, masterKeys, log });
  const stopCollecting = collectWhenIdle();

  let stopping = false;
  const stop = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutdown requested');
    stopCollecting();
    await Promise.all([listener.shutdown(config.shutdownTimeoutMs), ...workers.map((worker) => worker.stop(config.shutdownTimeoutMs))]);
    await admin?.close();
    await embedded?.stop();
    log.info('stopped');
    log.flush();
    process.exitCode = 0;
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
  // Told last: whoever waits for these lines may stop the proxy at once, and a signal before its handler killed it.
  log.info(
    {
      listen: `${address.address}:${address.port}`,
      socket: listener.unixSocketPath,
      upstream: describeTarget(target),
      tls: Boolean(config.tls),
      authUser: config.authRole?.user,
    },
    'proxy listening',
  );
  if (config.admin) log.info({ admin: `http://${config.admin.host}:${config.admin.port}` }, 'admin server listening');
}

async function chooseEmbedded(config: Config, log: Logger): Promise<EmbeddedUpstream | undefined> {
  if (config.embedded === 'never') return undefined;
  if (config.embedded === 'auto') {
    if (config.upstreamExplicit) return undefined;
    if (await probeUpstream(config.upstream, PROBE_TIMEOUT_MS)) return undefined;
    log.info({ upstream: describeTarget(config.upstream) }, 'no upstream configured and none answers');
  }
  const starting = Date.now();
  const embedded = await startEmbeddedUpstream({
    dataDir: config.embeddedData,
    password: config.embeddedPassword,
    connectTimeoutMs: config.upstream.connectTimeoutMs,
    log,
  });
  log.info(
    {
      data: config.embeddedData ?? 'temporary, removed at stop',
      at: describeTarget(embedded.target),
      password_file: embedded.passwordFile,
      started_in_ms: Date.now() - starting,
    },
    'started the embedded PostgreSQL: log in as postgres with the password in password_file',
  );
  return embedded;
}

/** The embedded server's own master key, for an operator who configured none: made once, then kept. */
function madeMasterKey(config: Config, log: Logger): string {
  const { key, file, made } = embeddedMasterKey(config.embeddedData);
  if (made) log.info({ file }, 'made a master key for the model secrets of the embedded PostgreSQL; in production give your own (--master-key-file)');
  return key;
}

/** Runs a subcommand's work on one database; a failure is logged, and makes the exit status 1. */
async function onDatabase(
  command: { databaseUrl: string; logLevel: string },
  what: string,
  work: (client: pg.Client, log: Logger) => Promise<void>,
): Promise<void> {
  const log = createLogger(command.logLevel);
  const client = new pg.Client({ connectionString: command.databaseUrl });
  try {
    await client.connect();
    await work(client, log);
  } catch (error) {
    log.error({ err: (error as Error).message }, `${what} failed`);
    process.exitCode = 1;
  } finally {
    await client.end().catch(() => {});
    log.flush();
  }
}

async function migrateDatabase(client: pg.Client, log: Logger, keys: string[]): Promise<void> {
  const { applied, unusable, shown } = await migrate(client, undefined, keys.map(masterKey));
  log.info({ database: client.database, applied }, applied.length ? 'catalog upgraded' : 'catalog already up to date; stubs refreshed');
  if (unusable.length > 0) {
    log.warn({ database: client.database, unusable }, 'model secrets left unusable (unbound to their rows, or no read proof): migrate again with the key that sealed them, or register them again');
  }
  if (shown.length > 0) {
    log.warn({ database: client.database, shown }, 'model configs left showing every role credentials an earlier version stored unsealed: migrate again with the master key, or register them again');
  }
}

async function rotateKeys(client: pg.Client, log: Logger, oldKeys: string[], newKey: string): Promise<void> {
  const { resealed, current, left } = await rotateMasterKey(client, oldKeys.map(masterKey), masterKey(newKey));
  if (left.length > 0) {
    log.warn(
      { database: client.database, left },
      'model secrets left as they were, with their read proofs: none of the given master keys opens them (each named with its owner and why)',
    );
  }
  const message = resealed ? 'model secrets re-sealed with the new master key' : 'model secrets already sealed with the new master key';
  log.info({ database: client.database, resealed, alreadyCurrent: current, left: left.length }, message);
}

/** Reads the secret from standard input (a line's end is not part of it) and prints it sealed. */
async function sealSecret(key: string): Promise<void> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  const secret = Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
  if (!secret) {
    process.stderr.write('pg-llm-proxy: seal-secret found no secret on standard input\n');
    process.exit(2);
  }
  process.stdout.write(`${sealText(secret, masterKey(key))}\n`);
}

main().catch((error: unknown) => {
  // An address that cannot be listened on, or a socket path another server holds, is the operator's choice to
  // change, like any configuration error; an embedded server that cannot start is the operator's to resolve too. The
  // message says how, a stack would not.
  if (error instanceof ListenError || error instanceof SocketPathError) {
    process.stderr.write(`pg-llm-proxy: ${error.message}\n`);
    process.exit(2);
  }
  const told = error instanceof EmbeddedServerError ? error.message : error instanceof Error ? error.stack : String(error);
  process.stderr.write(`pg-llm-proxy: ${told}\n`);
  process.exit(1);
});
