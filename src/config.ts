// The proxy's configuration: every option is declared once below, with its flag, environment variable and
// default; the command line, the environment and the JSON config file (keys are the flag names) are read from
// that one table, and so is --help. Precedence: command line, then environment, then config file, then default.

import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { SslMode, UpstreamTarget } from '../proxy/upstream.js';

interface OptionDeclaration {
  flag: string;
  env: string;
  value: string;
  description: string;
  default?: string;
}

const OPTIONS = [
  { flag: 'listen', env: 'PG_LLM_LISTEN', value: 'HOST:PORT', default: '127.0.0.1:6543', description: 'where clients connect' },
  {
    flag: 'upstream',
    env: 'PG_LLM_UPSTREAM',
    value: 'URL',
    description:
      'the PostgreSQL server, as postgres://HOST:PORT[?sslmode=MODE&sslrootcert=FILE]; default from PGHOST, PGPORT, PGSSLMODE and PGSSLROOTCERT, else localhost:5432',
  },
  { flag: 'admin', env: 'PG_LLM_ADMIN', value: 'HOST:PORT', default: '127.0.0.1:6544', description: 'admin HTTP server (/healthz, /readyz, /metrics), or "off"' },
  { flag: 'config', env: 'PG_LLM_CONFIG', value: 'FILE', description: 'JSON file whose keys are these option names' },
  { flag: 'tls-cert', env: 'PG_LLM_TLS_CERT', value: 'FILE', description: 'PEM certificate: clients may then use TLS' },
  { flag: 'tls-key', env: 'PG_LLM_TLS_KEY', value: 'FILE', description: 'PEM private key of --tls-cert' },
  {
    flag: 'embedded',
    env: 'PG_LLM_EMBEDDED',
    value: 'auto|always|never',
    default: 'auto',
    description: 'start an embedded PostgreSQL (PGlite) as the upstream: "auto" does when no upstream is configured and none answers on localhost:5432',
  },
  {
    flag: 'embedded-data',
    env: 'PG_LLM_EMBEDDED_DATA',
    value: 'DIR|memory',
    default: path.join(os.homedir(), '.local', 'share', 'pg-llm-proxy', 'embedded'),
    description: 'data directory of the embedded PostgreSQL ("memory" keeps nothing)',
  },
  { flag: 'max-message-size', env: 'PG_LLM_MAX_MESSAGE_SIZE', value: 'BYTES', default: String(1024 ** 3 - 1), description: 'largest message a client may send' },
  { flag: 'connect-timeout', env: 'PG_LLM_CONNECT_TIMEOUT', value: 'MS', default: '10000', description: 'time to connect to the upstream' },
  { flag: 'startup-timeout', env: 'PG_LLM_STARTUP_TIMEOUT', value: 'MS', default: '60000', description: 'time a client has to send its startup packet' },
  { flag: 'shutdown-timeout', env: 'PG_LLM_SHUTDOWN_TIMEOUT', value: 'MS', default: '30000', description: 'on SIGTERM/SIGINT, time running queries get to finish' },
  {
    flag: 'master-key',
    env: 'PG_LLM_MASTER_KEY',
    value: 'KEY',
    description: 'seals model secrets at rest (64 hex digits, or a passphrase); a session may also SET pg_llm.master_key',
  },
  {
    flag: 'default-model',
    env: 'PG_LLM_DEFAULT_MODEL',
    value: 'JSON',
    description:
      'model of the functions that name none (llm_ask): a config like pg_llm_add_model\'s, e.g. {"provider": "openai", "model_name": "gpt-4o", "api_key": "sealed:v1:…"}',
  },
  {
    flag: 'pg-ai-config',
    env: 'PG_AI_CONFIG',
    value: 'FILE',
    default: path.join(os.homedir(), '.pg_ai.config'),
    description: "pg_ai_query's INI config file, read for the default model when present",
  },
  { flag: 'call-concurrency', env: 'PG_LLM_CALL_CONCURRENCY', value: 'N', default: '16', description: 'LLM calls one statement runs at once' },
  {
    flag: 'max-model-calls',
    env: 'PG_LLM_MAX_MODEL_CALLS',
    value: 'N',
    default: '256',
    description: 'model calls the whole proxy runs at once (a model config may set its own max_concurrency); the rest wait their turn',
  },
  { flag: 'log-level', env: 'PG_LLM_LOG_LEVEL', value: 'LEVEL', default: 'info', description: 'fatal, error, warn, info, debug or trace' },
] as const satisfies readonly OptionDeclaration[];

type OptionName = (typeof OPTIONS)[number]['flag'];
type RawOptions = Partial<Record<OptionName, string>>;

export type EmbeddedMode = 'auto' | 'always' | 'never';

export interface Config {
  listen: { host: string; port: number };
  /** The configured upstream; `upstreamExplicit` is false when it is only the built-in localhost default. */
  upstream: UpstreamTarget;
  upstreamExplicit: boolean;
  admin: { host: string; port: number } | undefined;
  tls: { cert: string; key: string } | undefined;
  embedded: EmbeddedMode;
  embeddedData: string | undefined;
  maxMessageSize: number;
  startupTimeoutMs: number;
  shutdownTimeoutMs: number;
  masterKey: string | undefined;
  /** --default-model as given; its provider and sealed api_key are checked with the other default sources. */
  defaultModel: Record<string, unknown> | undefined;
  /** A missing file is an error only when it was named. */
  pgAiConfig: { file: string; required: boolean };
  callConcurrency: number;
  maxModelCalls: number;
  logLevel: string;
}

export class ConfigError extends Error {}

export type Command =
  | { kind: 'help' }
  | { kind: 'version' }
  | { kind: 'run'; config: Config }
  | { kind: 'migrate'; databaseUrl: string; logLevel: string }
  | { kind: 'seal-secret'; masterKey: string };

export function parseCommandLine(argv: string[], env: NodeJS.ProcessEnv): Command {
  if (argv[0] === 'migrate') return parseMigrate(argv.slice(1), env);
  if (argv[0] === 'seal-secret') return parseSealSecret(argv.slice(1), env);
  const cli: RawOptions = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--help' || arg === '-h') return { kind: 'help' };
    if (arg === '--version') return { kind: 'version' };
    const match = /^--([a-z-]+)(?:=(.*))?$/s.exec(arg);
    const option = match && OPTIONS.find((candidate) => candidate.flag === match[1]);
    if (!match || !option) throw new ConfigError(`unknown argument ${arg} (see --help)`);
    const value = match[2] ?? argv[++i];
    if (value === undefined) throw new ConfigError(`--${option.flag} needs a value: ${option.value}`);
    cli[option.flag] = value;
  }
  const fromEnv: RawOptions = {};
  for (const option of OPTIONS) if (env[option.env] !== undefined) fromEnv[option.flag] = env[option.env];
  const configFile = cli.config ?? fromEnv.config;
  const fromFile = configFile ? readConfigFile(configFile) : {};
  return { kind: 'run', config: resolve({ ...fromFile, ...fromEnv, ...cli }, env) };
}

/** `pg-llm-proxy migrate --database-url URL`: installs or upgrades the catalog from the shell. */
function parseMigrate(argv: string[], env: NodeJS.ProcessEnv): Command {
  const databaseUrl = subcommandOption('migrate', 'database-url', argv, env.PG_LLM_DATABASE_URL ?? env.DATABASE_URL);
  if (databaseUrl === HELP) return { kind: 'help' };
  if (!databaseUrl) throw new ConfigError('migrate needs --database-url URL (or PG_LLM_DATABASE_URL)');
  return { kind: 'migrate', databaseUrl, logLevel: env.PG_LLM_LOG_LEVEL ?? 'info' };
}

/** `pg-llm-proxy seal-secret [--master-key KEY]`: seals the secret on standard input for a config file. */
function parseSealSecret(argv: string[], env: NodeJS.ProcessEnv): Command {
  const key = subcommandOption('seal-secret', 'master-key', argv, env.PG_LLM_MASTER_KEY);
  if (key === HELP) return { kind: 'help' };
  if (!key) throw new ConfigError('seal-secret needs the master key the proxy runs with: --master-key KEY (or PG_LLM_MASTER_KEY)');
  return { kind: 'seal-secret', masterKey: key };
}

const HELP = Symbol('help');

/** The value of a subcommand's one option (`--FLAG VALUE` or `--FLAG=VALUE`), else `fallback`; HELP for --help. */
function subcommandOption(command: string, flag: string, argv: string[], fallback: string | undefined): string | undefined | typeof HELP {
  let value = fallback;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--help' || argv[i] === '-h') return HELP;
    const match = new RegExp(`^--${flag}(?:=(.*))?$`, 's').exec(argv[i]!);
    if (!match) throw new ConfigError(`unknown argument ${argv[i]} for ${command} (see --help)`);
    value = match[1] ?? argv[++i];
  }
  return value;
}

export function helpText(): string {
  const lines = ['Usage: pg-llm-proxy [options]', '', 'Options (each also as an environment variable, or a key of the --config file):'];
  for (const option of OPTIONS) {
    const shown = 'default' in option ? ` (default: ${option.default})` : '';
    lines.push(`  --${option.flag} ${option.value}`, `      ${option.description}${shown}`, `      env ${option.env}`);
  }
  lines.push('  --help', '      this text', '  --version', '      the version');
  lines.push(
    '',
    'Usage: pg-llm-proxy migrate --database-url URL',
    '  Installs or upgrades the pg_llm catalog and function stubs in one database (env PG_LLM_DATABASE_URL).',
    '',
    'Usage: pg-llm-proxy seal-secret [--master-key KEY] < secret',
    '  Prints the secret on standard input sealed as sealed:v1:…, for an api_key in --default-model or the pg_ai config',
    '  (env PG_LLM_MASTER_KEY; the proxy opens it at start-up with the same master key).',
  );
  return lines.join('\n');
}

function readConfigFile(file: string): RawOptions {
  let content: string;
  try {
    content = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError(`cannot read config file ${file}: ${(error as Error).message}`);
  }
  const parsed = jsonObject(`config file ${file}`, content);
  const options: RawOptions = {};
  for (const [key, value] of Object.entries(parsed)) {
    const option = OPTIONS.find((candidate) => candidate.flag === key);
    if (!option) throw new ConfigError(`config file ${file}: unknown key "${key}"`);
    // An object (the default model) is kept as the JSON a command line would give.
    options[option.flag] = typeof value === 'object' && value !== null ? JSON.stringify(value) : String(value);
  }
  return options;
}

function resolve(raw: RawOptions, env: NodeJS.ProcessEnv): Config {
  const value = (name: OptionName): string | undefined =>
    raw[name] ?? (OPTIONS.find((option) => option.flag === name) as OptionDeclaration).default;
  const connectTimeoutMs = integer('connect-timeout', value('connect-timeout')!);
  const admin = value('admin')!;
  const tlsCert = value('tls-cert');
  const tlsKey = value('tls-key');
  if (Boolean(tlsCert) !== Boolean(tlsKey)) throw new ConfigError('--tls-cert and --tls-key go together');
  const embedded = value('embedded')!;
  if (!['auto', 'always', 'never'].includes(embedded)) throw new ConfigError(`--embedded must be auto, always or never`);
  const embeddedData = value('embedded-data')!;
  const defaultModel = raw['default-model'];
  return {
    listen: hostPort('listen', value('listen')!),
    upstream: raw.upstream ? parseUpstreamUrl(raw.upstream, connectTimeoutMs) : upstreamFromLibpqEnv(env, connectTimeoutMs),
    upstreamExplicit: raw.upstream !== undefined || env.PGHOST !== undefined || env.PGPORT !== undefined,
    admin: admin === 'off' ? undefined : hostPort('admin', admin),
    tls: tlsCert && tlsKey ? { cert: readPem(tlsCert), key: readPem(tlsKey) } : undefined,
    embedded: embedded as EmbeddedMode,
    embeddedData: embeddedData === 'memory' ? undefined : embeddedData,
    maxMessageSize: integer('max-message-size', value('max-message-size')!),
    startupTimeoutMs: integer('startup-timeout', value('startup-timeout')!),
    shutdownTimeoutMs: integer('shutdown-timeout', value('shutdown-timeout')!),
    masterKey: value('master-key') || undefined,
    defaultModel: defaultModel ? jsonObject('--default-model', defaultModel) : undefined,
    pgAiConfig: { file: value('pg-ai-config')!, required: raw['pg-ai-config'] !== undefined },
    callConcurrency: Math.max(1, integer('call-concurrency', value('call-concurrency')!)),
    maxModelCalls: Math.max(1, integer('max-model-calls', value('max-model-calls')!)),
    logLevel: value('log-level')!,
  };
}

/** Reads postgres://HOST:PORT/?sslmode=…&sslrootcert=…, with libpq's host=/socket/dir and port= query forms. */
export function parseUpstreamUrl(text: string, connectTimeoutMs: number): UpstreamTarget {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new ConfigError(`--upstream: not a URL: ${text}`);
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') {
    throw new ConfigError(`--upstream must be a postgres:// URL, got ${url.protocol}`);
  }
  const host = url.searchParams.get('host') ?? decodeURIComponent(url.hostname);
  const port = url.searchParams.get('port') ?? (url.port || '5432');
  return target(host || 'localhost', port, url.searchParams.get('sslmode'), url.searchParams.get('sslrootcert'), connectTimeoutMs);
}

function upstreamFromLibpqEnv(env: NodeJS.ProcessEnv, connectTimeoutMs: number): UpstreamTarget {
  return target(env.PGHOST || 'localhost', env.PGPORT || '5432', env.PGSSLMODE ?? null, env.PGSSLROOTCERT ?? null, connectTimeoutMs);
}

const SSL_MODES: readonly SslMode[] = ['disable', 'prefer', 'require', 'verify-ca', 'verify-full'];

function target(host: string, port: string, sslMode: string | null, sslRootCert: string | null, connectTimeoutMs: number): UpstreamTarget {
  const mode = (sslMode ?? 'prefer') as SslMode;
  if (!SSL_MODES.includes(mode)) throw new ConfigError(`sslmode must be one of ${SSL_MODES.join(', ')}`);
  if ((mode === 'verify-ca' || mode === 'verify-full') && !sslRootCert) {
    throw new ConfigError(`sslmode=${mode} needs sslrootcert=FILE (the CA that signed the upstream's certificate)`);
  }
  const upstream: UpstreamTarget = { host, port: integer('upstream port', port), sslMode: mode, connectTimeoutMs };
  if (host.startsWith('/')) upstream.socketDir = host;
  if (sslRootCert) upstream.sslRootCert = readPem(sslRootCert);
  return upstream;
}

function hostPort(name: string, text: string): { host: string; port: number } {
  const match = /^(.*):(\d+)$/.exec(text);
  if (!match) throw new ConfigError(`--${name} must be HOST:PORT, got ${text}`);
  return { host: match[1]!.replace(/^\[(.*)\]$/, '$1') || '127.0.0.1', port: integer(name, match[2]!) };
}

function integer(name: string, text: string): number {
  const number = Number(text);
  if (!Number.isSafeInteger(number) || number < 0) throw new ConfigError(`--${name} must be a whole number, got ${text}`);
  return number;
}

/** Parsed JSON; the parser's message is cut to the position, since it quotes the text, which may hold a key. */
function jsonObject(what: string, text: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    const at = /at position \d+(?: \(line \d+ column \d+\))?/.exec((error as Error).message);
    throw new ConfigError(`${what} is not valid JSON${at ? ` (${at[0]})` : ''}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new ConfigError(`${what} must hold a JSON object`);
  return parsed as Record<string, unknown>;
}

function readPem(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError(`cannot read ${file}: ${(error as Error).message}`);
  }
}
