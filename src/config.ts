// The proxy's configuration: every option is declared once below, with its flag, environment variable and
// default; the command line, the environment and the JSON config file (keys are the flag names) are read from
// that one table, and so is --help. Precedence: command line, then environment, then config file, then default.

import { readFileSync, statSync } from 'node:fs';
import { isIP } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { AuthRole } from '../proxy/auth-query.js';
import type { SslMode, UpstreamTarget } from '../proxy/upstream.js';
import { isLoopback, MIN_TOKEN_LENGTH } from './admin/access.js';
import { isSealedText, masterKey, openText, SecretError, type MasterKey } from './crypto/secrets.js';
import type { DailyBudget } from './cost/daily-spend.js';
import { DEFAULT_ARGUMENT_LIMITS, type ArgumentLimits } from './intercept/argument-limits.js';
import { DEFAULTABLE_SETTINGS, parseSettings } from './intercept/session-settings.js';
import { DEFAULT_RESPONSE_CACHE_BYTES } from './providers/response-cache.js';
import { defaultLogFormat, LOG_FORMATS, type LogFormat } from './logger.js';
import type { WorkerSettings } from './worker/config.js';

interface OptionDeclaration {
  flag: string;
  env: string;
  value: string;
  description: string;
  default?: string;
  /** Given more than once (or as a JSON array in the config file), its values are joined with commas. */
  repeatable?: boolean;
}

const OPTIONS = [
  { flag: 'listen', env: 'PG_LLM_LISTEN', value: 'HOST:PORT', default: '127.0.0.1:6543', description: 'where clients connect' },
  {
    flag: 'socket-dir',
    env: 'PG_LLM_SOCKET_DIR',
    value: 'DIR',
    default: '/tmp',
    description: "directory of the Unix-domain socket clients may also connect to, DIR/.s.PGSQL.PORT with --listen's port (psql -h DIR -p PORT); empty: none",
  },
  {
    flag: 'upstream',
    env: 'PG_LLM_UPSTREAM',
    value: 'URL',
    description:
      'the PostgreSQL server, as postgres://HOST:PORT[?sslmode=MODE&sslrootcert=FILE]; default from PGHOST, PGPORT, PGSSLMODE and PGSSLROOTCERT, else localhost:5432',
  },
  {
    flag: 'admin',
    env: 'PG_LLM_ADMIN',
    value: 'HOST:PORT',
    default: '127.0.0.1:6544',
    description: 'admin HTTP server (/healthz, /readyz, /metrics, the dashboard at /), or "off"; beyond loopback only with --admin-token',
  },
  {
    flag: 'admin-token',
    env: 'PG_LLM_ADMIN_TOKEN',
    value: 'TOKEN',
    description: `what every admin path but /healthz and /readyz then asks for: Authorization: Bearer TOKEN, or open the dashboard once as /?token=TOKEN; at least ${MIN_TOKEN_LENGTH} characters. On the command line it shows in ps: prefer the variable`,
  },
  { flag: 'config', env: 'PG_LLM_CONFIG', value: 'FILE', description: 'JSON file whose keys are these option names' },
  { flag: 'tls-cert', env: 'PG_LLM_TLS_CERT', value: 'FILE', description: 'PEM certificate: clients may then use TLS' },
  { flag: 'tls-key', env: 'PG_LLM_TLS_KEY', value: 'FILE', description: 'PEM private key of --tls-cert' },
  {
    flag: 'auth-user',
    env: 'PG_LLM_AUTH_USER',
    value: 'ROLE',
    description:
      'a role whose --auth-query gives the proxy the SCRAM secrets of roles: the proxy then authenticates SCRAM clients itself, with channel binding on each TLS leg',
  },
  {
    flag: 'auth-password',
    env: 'PG_LLM_AUTH_PASSWORD',
    value: 'PASSWORD',
    description: 'password of --auth-user; in the config file best sealed (pg-llm-proxy seal-secret), opened with the master key',
  },
  { flag: 'auth-database', env: 'PG_LLM_AUTH_DATABASE', value: 'NAME', default: 'postgres', description: 'database the auth query runs in' },
  {
    flag: 'auth-query',
    env: 'PG_LLM_AUTH_QUERY',
    value: 'SQL',
    default: 'SELECT llm_proxy_auth.role_secret($1)',
    description: "query run as --auth-user for the role name $1: the row's last column is the role's stored password (rolpassword)",
  },
  {
    flag: 'embedded',
    env: 'PG_LLM_EMBEDDED',
    value: 'auto|always|never',
    default: 'auto',
    description: 'start an embedded PostgreSQL as the upstream: "auto" does when no upstream is configured and none answers on localhost:5432',
  },
  {
    flag: 'embedded-data',
    env: 'PG_LLM_EMBEDDED_DATA',
    value: 'DIR|memory',
    // root's home is closed to the user PostgreSQL then runs as
    default: process.getuid?.() === 0 ? '/var/lib/pg-llm-proxy/embedded' : path.join(os.homedir(), '.local', 'share', 'pg-llm-proxy', 'embedded'),
    description: 'data directory of the embedded PostgreSQL ("memory": a temporary one, removed at stop)',
  },
  {
    flag: 'embedded-password',
    env: 'PG_LLM_EMBEDDED_PASSWORD',
    value: 'PASSWORD',
    description: 'password of the embedded PostgreSQL\'s superuser postgres, kept in DIR.password beside --embedded-data; without it, a random one is made once (may be sealed)',
  },
  { flag: 'max-message-size', env: 'PG_LLM_MAX_MESSAGE_SIZE', value: 'BYTES', default: String(1024 ** 3 - 1), description: 'largest message a client may send' },
  { flag: 'connect-timeout', env: 'PG_LLM_CONNECT_TIMEOUT', value: 'MS', default: '10000', description: 'time to connect to the upstream, TLS handshake included' },
  { flag: 'startup-timeout', env: 'PG_LLM_STARTUP_TIMEOUT', value: 'MS', default: '60000', description: 'time a client has to send its startup packet' },
  {
    flag: 'max-starting-connections',
    env: 'PG_LLM_MAX_STARTING_CONNECTIONS',
    value: 'N',
    default: '1000',
    description: 'clients still to send their startup packet at once (one address: a tenth, once half are taken); more are refused with 53300',
  },
  { flag: 'shutdown-timeout', env: 'PG_LLM_SHUTDOWN_TIMEOUT', value: 'MS', default: '30000', description: 'on SIGTERM/SIGINT, time running queries get to finish' },
  {
    flag: 'master-key',
    env: 'PG_LLM_MASTER_KEY',
    value: 'KEY',
    description:
      "seals model secrets at rest (64 hex digits, or a passphrase); a session may also SET pg_llm.master_key. On the command line it shows in ps and in npm's banner: prefer the variable or --master-key-file",
  },
  {
    flag: 'master-key-file',
    env: 'PG_LLM_MASTER_KEY_FILE',
    value: 'FILE',
    description: 'reads --master-key from FILE (a trailing line end is not part of it), which others than its owner may not read (chmod 600)',
  },
  {
    flag: 'previous-master-keys',
    env: 'PG_LLM_PREVIOUS_MASTER_KEYS',
    value: 'KEY,KEY…',
    description: 'earlier master keys, comma-separated: they open model secrets sealed before a rotation, and never seal new ones',
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
    flag: 'max-argument-bytes',
    env: 'PG_LLM_MAX_ARGUMENT_BYTES',
    value: 'BYTES',
    default: String(DEFAULT_ARGUMENT_LIMITS.call),
    description:
      "largest arguments of one LLM call the proxy takes from PostgreSQL, as their JSON (the server evaluates them; a value may be 1 GB): a call over it fails with 54000 before its arguments are read; an llm.call job's prompt and row values are held to it too",
  },
  {
    flag: 'max-statement-argument-bytes',
    env: 'PG_LLM_MAX_STATEMENT_ARGUMENT_BYTES',
    value: 'BYTES',
    default: String(DEFAULT_ARGUMENT_LIMITS.statement),
    description:
      "the most of its LLM calls' arguments one statement hands the proxy at once (every call a pass finds, or the rows waiting for their calls), and of parameters one Bind of a prepared LLM statement carries: past it the statement fails with 54000",
  },
  {
    flag: 'max-model-calls',
    env: 'PG_LLM_MAX_MODEL_CALLS',
    value: 'N',
    default: '256',
    description: 'model calls the whole proxy runs at once (a model config may set its own max_concurrency); the rest wait their turn',
  },
  {
    flag: 'max-model-calls-per-role',
    env: 'PG_LLM_MAX_MODEL_CALLS_PER_ROLE',
    value: 'N',
    description:
      "of those, the most one role (in one database) runs at once, so that one role's calls cannot keep another's waiting; waiting calls take turns by role; default: a quarter of --max-model-calls",
  },
  {
    flag: 'price-table',
    env: 'PG_LLM_PRICE_TABLE',
    value: 'FILE',
    description: 'JSON prices by model name, in US dollars per million tokens: {"gpt-4o-mini": {"input": 0.15, "output": 0.6}}; costs then appear in audit rows and /metrics',
  },
  {
    flag: 'role-daily-budgets',
    env: 'PG_LLM_ROLE_DAILY_BUDGETS',
    value: 'JSON',
    description:
      'what each role may spend on model calls a day (UTC), in US dollars and/or requests: {"analyst": {"usd": 5, "calls": 10000}, "*": {"usd": 1}}, "*" for every role not named; counted by this proxy process from its start',
  },
  {
    flag: 'max-response-bytes',
    env: 'PG_LLM_MAX_RESPONSE_BYTES',
    value: 'BYTES',
    default: String(8 * 1024 ** 2),
    description:
      "largest chat answer read from a model provider, whole or streamed (an SDK parses a whole answer on the event loop every session shares); a model config's max_response_bytes may lower it for that model",
  },
  {
    flag: 'max-embedding-response-bytes',
    env: 'PG_LLM_MAX_EMBEDDING_RESPONSE_BYTES',
    value: 'BYTES',
    default: String(128 * 1024 ** 2),
    description: "largest answer to one embeddings request (a batch of embedding_batch_size texts); a model config's max_response_bytes may lower it for that model",
  },
  {
    flag: 'provider-hosts-allow',
    env: 'PG_LLM_PROVIDER_HOSTS_ALLOW',
    value: 'HOST|CIDR,…',
    repeatable: true,
    description:
      'the only provider hosts a model may call: host names (*.example.com for its subdomains), addresses and CIDRs; default: any host not denied',
  },
  {
    flag: 'provider-hosts-deny',
    env: 'PG_LLM_PROVIDER_HOSTS_DENY',
    value: 'HOST|CIDR,…',
    repeatable: true,
    description:
      'provider hosts no model may call (e.g. 10.0.0.0/8), decided on the resolved address; link-local addresses and cloud metadata endpoints are always denied',
  },
  {
    flag: 'document-hosts-allow',
    env: 'PG_LLM_DOCUMENT_HOSTS_ALLOW',
    value: 'HOST|CIDR,…',
    repeatable: true,
    description:
      "loopback, private (RFC 1918, 100.64.0.0/10, fc00::/7) hosts pgai's ai.loading_uri may fetch documents from; default: none. The proxy's own ports on this host are always refused",
  },
  {
    flag: 'metrics-max-models',
    env: 'PG_LLM_METRICS_MAX_MODELS',
    value: 'N',
    default: '50',
    description: 'model names with series of their own on /metrics (models priced in --price-table always have theirs); the others count under model="other"',
  },
  {
    flag: 'response-cache-entries',
    env: 'PG_LLM_RESPONSE_CACHE_ENTRIES',
    value: 'N',
    default: '0',
    description: 'answers to temperature-0 requests kept to answer the same request again without a provider call (0: no cache)',
  },
  { flag: 'response-cache-ttl', env: 'PG_LLM_RESPONSE_CACHE_TTL', value: 'SECONDS', default: '3600', description: 'how long a cached answer may be used' },
  {
    flag: 'response-cache-bytes',
    env: 'PG_LLM_RESPONSE_CACHE_BYTES',
    value: 'BYTES',
    default: String(DEFAULT_RESPONSE_CACHE_BYTES),
    description: "the response cache's bound in bytes: one role's answers take at most a quarter, and an answer over a sixteenth is not kept",
  },
  {
    flag: 'settings',
    env: 'PG_LLM_SETTINGS',
    value: 'JSON',
    description:
      'server-wide defaults of the pg_llm.* settings, used where a session, role or database sets none: {"trace_enabled": "on", "audit_sample_rate": 0.5}',
  },
  {
    flag: 'worker',
    env: 'PG_LLM_WORKER',
    value: 'URL',
    repeatable: true,
    description:
      'run the llm.call jobs of one database, connected as one role: postgres://ROLE[:PASSWORD]@HOST[:PORT]/DATABASE[?sslmode=…]; repeat it, or separate URLs with commas, for more databases',
  },
  { flag: 'worker-concurrency', env: 'PG_LLM_WORKER_CONCURRENCY', value: 'N', default: '32', description: 'llm.call jobs the worker runs at once per database (model limits still apply)' },
  {
    flag: 'worker-lease',
    env: 'PG_LLM_WORKER_LEASE',
    value: 'MS',
    default: '30000',
    description: 'how long a claimed job stays claimed without word from its worker (renewed while it runs): a stopped proxy\'s jobs go to another after it',
  },
  { flag: 'worker-poll', env: 'PG_LLM_WORKER_POLL', value: 'MS', default: '5000', description: 'how often the worker looks at the queue when no NOTIFY wakes it (retries, missed notifications)' },
  {
    flag: 'worker-retry-delay',
    env: 'PG_LLM_WORKER_RETRY_DELAY',
    value: 'MS',
    default: '1000',
    description: 'wait before a failed job is tried again; it doubles with each attempt, up to 5 minutes, until the trigger\'s max_attempts',
  },
  { flag: 'worker-batch-poll', env: 'PG_LLM_WORKER_BATCH_POLL', value: 'MS', default: '60000', description: 'how often the worker asks the provider about the batches llm.call jobs wait for (models with "batch": true)' },
  { flag: 'worker-keep-done', env: 'PG_LLM_WORKER_KEEP_DONE', value: 'SECONDS', default: '86400', description: 'how long done and skipped jobs stay in llm.queue (jobs in error stay until deleted)' },
  { flag: 'log-level', env: 'PG_LLM_LOG_LEVEL', value: 'LEVEL', default: 'info', description: 'fatal, error, warn, info, debug or trace' },
  {
    flag: 'log-format',
    env: 'PG_LLM_LOG_FORMAT',
    value: 'json|pretty',
    description: 'JSON lines, or lines for people to read; default: pretty when standard error is a terminal, json otherwise',
  },
] as const satisfies readonly OptionDeclaration[];

type OptionName = (typeof OPTIONS)[number]['flag'];
type RawOptions = Partial<Record<OptionName, string>>;
type Flags<Option extends OptionDeclaration> = Partial<Record<Option['flag'], string>>;

const DATABASE_URL = { flag: 'database-url', env: 'PG_LLM_DATABASE_URL', value: 'URL', description: 'the database (DATABASE_URL also works)' } as const;

/** The subcommands and their options; those they share with the proxy keep the proxy's flag and variable. */
const SUBCOMMANDS = {
  migrate: {
    summary: [
      'Installs or upgrades the pg_llm catalog and function stubs in one database, and binds model secrets sealed by',
      'an earlier version to their rows; those no given key opens stay unusable until bound or registered again.',
    ],
    options: [
      DATABASE_URL,
      { ...proxyOption('master-key'), description: 'the master key the proxy runs with' },
      proxyOption('master-key-file'),
      { ...proxyOption('previous-master-keys'), description: 'earlier master keys that sealed some secrets, comma-separated' },
    ],
  },
  'rotate-master-key': {
    summary: [
      'Re-seals every stored model secret of one database that the master key or a previous key opens with the new',
      'master key, in one transaction. Secrets the new key sealed stay as they are; those no given key opens (a role\'s',
      'own SET pg_llm.master_key, or bytes that open with nothing) are left as they were and named with their owners.',
    ],
    options: [
      DATABASE_URL,
      { ...proxyOption('master-key'), description: 'the master key the secrets are sealed with now' },
      proxyOption('master-key-file'),
      { ...proxyOption('previous-master-keys'), description: 'earlier master keys that sealed some of them, comma-separated' },
      { flag: 'new-master-key', env: 'PG_LLM_NEW_MASTER_KEY', value: 'KEY', description: 'the master key to re-seal them with' },
    ],
  },
  'seal-secret': {
    summary: [
      'Prints the secret on standard input sealed as sealed:v2:…, for an api_key in --default-model or the pg_ai config,',
      'or --auth-password; the proxy opens it at start-up with the same master key. Usage: pg-llm-proxy seal-secret < secret',
    ],
    options: [{ ...proxyOption('master-key'), description: 'the master key the proxy runs with' }, proxyOption('master-key-file')],
  },
} as const satisfies Record<string, { summary: readonly string[]; options: readonly OptionDeclaration[] }>;

type Subcommand = keyof typeof SUBCOMMANDS;
type SubcommandOption<Name extends Subcommand> = (typeof SUBCOMMANDS)[Name]['options'][number];

function proxyOption<Name extends OptionName>(flag: Name): Extract<(typeof OPTIONS)[number], { flag: Name }> {
  return OPTIONS.find((option) => option.flag === flag) as Extract<(typeof OPTIONS)[number], { flag: Name }>;
}

/** A host name (a leading `*.` matches its subdomains) or a range of addresses. */
export type HostEntry = { name: string } | { address: string; prefix: number; family: 'ipv4' | 'ipv6' };

/** --provider-hosts-allow (empty: any host) and --provider-hosts-deny. */
export interface ProviderHosts {
  allow: HostEntry[];
  deny: HostEntry[];
}

export type EmbeddedMode = 'auto' | 'always' | 'never';

export interface Config {
  listen: { host: string; port: number };
  /** --socket-dir, undefined when given empty; `socketDirExplicit` is false when it is only the built-in /tmp. */
  socketDir: string | undefined;
  socketDirExplicit: boolean;
  /** The configured upstream; `upstreamExplicit` is false when it is only the built-in localhost default. */
  upstream: UpstreamTarget;
  upstreamExplicit: boolean;
  admin: { host: string; port: number } | undefined;
  /** Required when the admin server listens beyond loopback. */
  adminToken: string | undefined;
  tls: { cert: string; key: string } | undefined;
  /** --auth-user and its options, its password opened; without it, authentication is relayed. */
  authRole: AuthRole | undefined;
  embedded: EmbeddedMode;
  embeddedData: string | undefined;
  /** --embedded-password, opened; without it the embedded server keeps or makes its own. */
  embeddedPassword: string | undefined;
  maxMessageSize: number;
  startupTimeoutMs: number;
  maxStartingConnections: number;
  shutdownTimeoutMs: number;
  /** The master key first (it seals), then the previous keys (they only open); empty without a master key. */
  masterKeys: string[];
  /** --default-model as given; its provider and sealed api_key are checked with the other default sources. */
  defaultModel: Record<string, unknown> | undefined;
  /** --settings: pg_llm.* defaults by name without the prefix, checked at start-up. */
  settingDefaults: Record<string, string>;
  /** A missing file is an error only when it was named. */
  pgAiConfig: { file: string; required: boolean };
  callConcurrency: number;
  /** --max-argument-bytes and --max-statement-argument-bytes. */
  argumentLimits: ArgumentLimits;
  maxModelCalls: number;
  /** Unset: the limits' own default share. */
  maxModelCallsPerRole: number | undefined;
  /** US dollars per million input and output tokens, by model name. */
  priceTable: Map<string, { input: number; output: number }>;
  /** By role name ("*": any other role). */
  roleDailyBudgets: Map<string, DailyBudget>;
  /** Chat answers, whole or streamed. */
  maxResponseBytes: number;
  maxEmbeddingResponseBytes: number;
  providerHosts: ProviderHosts;
  /** --document-hosts-allow: the internal hosts a document may be fetched from. */
  documentHosts: HostEntry[];
  metricsMaxModels: number;
  responseCache: { entries: number; ttlSeconds: number; bytes: number };
  worker: WorkerSettings;
  logLevel: string;
  logFormat: LogFormat;
}

export class ConfigError extends Error {}

export type Command =
  | { kind: 'help' }
  | { kind: 'version' }
  | { kind: 'run'; config: Config }
  | { kind: 'migrate'; databaseUrl: string; masterKeys: string[]; logLevel: string }
  | { kind: 'rotate-master-key'; databaseUrl: string; oldKeys: string[]; newKey: string; logLevel: string }
  | { kind: 'seal-secret'; masterKey: string };

export function parseCommandLine(argv: string[], env: NodeJS.ProcessEnv): Command {
  if (argv[0] === 'migrate') return parseMigrate(argv.slice(1), env);
  if (argv[0] === 'rotate-master-key') return parseRotate(argv.slice(1), env);
  if (argv[0] === 'seal-secret') return parseSealSecret(argv.slice(1), env);
  const cli = readFlags(argv, OPTIONS);
  if (typeof cli === 'string') return { kind: cli };
  const fromEnv = readEnvironment(env, OPTIONS);
  const configFile = cli.config ?? fromEnv.config;
  const fromFile = configFile ? readConfigFile(configFile) : {};
  return { kind: 'run', config: resolve({ ...fromFile, ...fromEnv, ...cli }, env) };
}

/** `pg-llm-proxy migrate --database-url URL`: installs or upgrades the catalog from the shell. */
function parseMigrate(argv: string[], env: NodeJS.ProcessEnv): Command {
  const options = subcommandOptions('migrate', argv, env);
  if (typeof options === 'string') return { kind: options };
  return {
    kind: 'migrate',
    databaseUrl: databaseUrl('migrate', options['database-url'], env),
    masterKeys: masterKeyList(givenMasterKey(options['master-key'], options['master-key-file']), options['previous-master-keys']),
    logLevel: env.PG_LLM_LOG_LEVEL ?? 'info',
  };
}

/** `pg-llm-proxy rotate-master-key --database-url URL`: re-seals the stored model secrets under a new master key. */
function parseRotate(argv: string[], env: NodeJS.ProcessEnv): Command {
  const options = subcommandOptions('rotate-master-key', argv, env);
  if (typeof options === 'string') return { kind: options };
  const oldKeys = masterKeyList(givenMasterKey(options['master-key'], options['master-key-file']), options['previous-master-keys']);
  if (oldKeys.length === 0) throw new ConfigError('rotate-master-key needs --master-key KEY (or PG_LLM_MASTER_KEY): the key the secrets are sealed with now');
  const newKey = options['new-master-key'];
  if (!newKey) throw new ConfigError('rotate-master-key needs --new-master-key KEY (or PG_LLM_NEW_MASTER_KEY)');
  return {
    kind: 'rotate-master-key',
    databaseUrl: databaseUrl('rotate-master-key', options['database-url'], env),
    oldKeys,
    newKey,
    logLevel: env.PG_LLM_LOG_LEVEL ?? 'info',
  };
}

/** A subcommand's options from its command line, else the environment: a subcommand reads no config file. */
function subcommandOptions<Name extends Subcommand>(
  command: Name,
  argv: string[],
  env: NodeJS.ProcessEnv,
): Flags<SubcommandOption<Name>> | 'help' | 'version' {
  const options = SUBCOMMANDS[command].options as readonly SubcommandOption<Name>[];
  const cli = readFlags(argv, options, ` for ${command}`);
  return typeof cli === 'string' ? cli : { ...readEnvironment(env, options), ...cli };
}

function databaseUrl(command: Subcommand, given: string | undefined, env: NodeJS.ProcessEnv): string {
  const url = given ?? env.DATABASE_URL;
  if (!url) throw new ConfigError(`${command} needs --database-url URL (or PG_LLM_DATABASE_URL)`);
  return url;
}

/** `--flag VALUE` and `--flag=VALUE` arguments of the given options, or what --help and --version ask for. */
function readFlags<Option extends OptionDeclaration>(argv: string[], options: readonly Option[], where = ''): Flags<Option> | 'help' | 'version' {
  const values: Flags<Option> = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--help' || arg === '-h') return 'help';
    if (arg === '--version') return 'version';
    const match = /^--([a-z-]+)(?:=(.*))?$/s.exec(arg);
    const option = match && options.find((candidate) => candidate.flag === match[1]);
    if (!match || !option) throw new ConfigError(`unknown argument ${arg}${where} (see --help)`);
    const value = match[2] ?? argv[++i];
    if (value === undefined) throw new ConfigError(`--${option.flag} needs a value: ${option.value}`);
    const flag = option.flag as Option['flag'];
    values[flag] = option.repeatable && values[flag] !== undefined ? `${values[flag]},${value}` : value;
  }
  return values;
}

function readEnvironment<Option extends OptionDeclaration>(env: NodeJS.ProcessEnv, options: readonly Option[]): Flags<Option> {
  const values: Flags<Option> = {};
  for (const option of options) if (env[option.env] !== undefined) values[option.flag as Option['flag']] = env[option.env];
  return values;
}

/**
 * The master key, then the previous keys. Previous keys without a master key are refused: whichever key comes first
 * seals new secrets, and a key being retired must not.
 */
function masterKeyList(master: string | undefined, previous: string | undefined): string[] {
  // Trimmed so that "K1, K2" means what it looks like; a passphrase cannot hold a comma here.
  const previousKeys = (previous ?? '').split(',').map((key) => key.trim()).filter((key) => key !== '');
  if (!master) {
    if (previousKeys.length > 0) throw new ConfigError('--previous-master-keys needs --master-key: previous keys only open secrets, the master key seals new ones');
    return [];
  }
  return [master, ...previousKeys];
}

/** --master-key, or the content of --master-key-file: one of them, never both, which would leave a doubt which seals. */
function givenMasterKey(key: string | undefined, file: string | undefined): string | undefined {
  if (file === undefined) return key;
  if (key !== undefined) throw new ConfigError('give the master key once: --master-key (PG_LLM_MASTER_KEY) or --master-key-file (PG_LLM_MASTER_KEY_FILE)');
  return readKeyFile(file);
}

/** The key in a file only its owner may read, as ssh wants of a private key: a key others could read is no secret. */
function readKeyFile(file: string): string {
  let content: string;
  try {
    const { mode } = statSync(file);
    if (process.platform !== 'win32' && (mode & 0o077) !== 0) {
      throw new ConfigError(`--master-key-file ${file} may be read by others than its owner (mode ${(mode & 0o777).toString(8).padStart(4, '0')}): chmod 600 ${file}`);
    }
    content = readFileSync(file, 'utf8');
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    throw new ConfigError(`cannot read --master-key-file ${file}: ${(error as Error).message}`);
  }
  const key = content.replace(/\r?\n$/, '');
  if (key === '') throw new ConfigError(`--master-key-file ${file} is empty`);
  return key;
}

/** `pg-llm-proxy seal-secret [--master-key KEY]`: seals the secret on standard input for a config file. */
function parseSealSecret(argv: string[], env: NodeJS.ProcessEnv): Command {
  const options = subcommandOptions('seal-secret', argv, env);
  if (typeof options === 'string') return { kind: options };
  const key = givenMasterKey(options['master-key'], options['master-key-file']);
  if (!key) throw new ConfigError('seal-secret needs the master key the proxy runs with: PG_LLM_MASTER_KEY, --master-key-file FILE or --master-key KEY');
  return { kind: 'seal-secret', masterKey: key };
}

export function helpText(): string {
  const lines = ['Usage: pg-llm-proxy [options]', '', 'Options (each also as an environment variable, or a key of the --config file):'];
  lines.push(...OPTIONS.flatMap(describeOption), '  --help', '      this text', '  --version', '      the version');
  for (const [name, command] of Object.entries(SUBCOMMANDS)) {
    lines.push('', `Usage: pg-llm-proxy ${name} [options]`, ...command.summary.map((line) => `  ${line}`));
    lines.push('Options (each also as an environment variable):', ...command.options.flatMap(describeOption));
  }
  return lines.join('\n');
}

function describeOption(option: OptionDeclaration): string[] {
  const shown = option.default === undefined ? '' : ` (default: ${option.default})`;
  return [`  --${option.flag} ${option.value}`, `      ${option.description}${shown}`, `      env ${option.env}`];
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
    // A list is what repeating the flag gives; an object (the default model) the JSON a command line would give.
    if ((option as OptionDeclaration).repeatable && Array.isArray(value)) options[option.flag] = value.map(String).join(',');
    else options[option.flag] = typeof value === 'object' && value !== null ? JSON.stringify(value) : String(value);
  }
  return options;
}

function resolve(raw: RawOptions, env: NodeJS.ProcessEnv): Config {
  const value = (name: OptionName): string | undefined =>
    raw[name] ?? (OPTIONS.find((option) => option.flag === name) as OptionDeclaration).default;
  const connectTimeoutMs = integer('connect-timeout', value('connect-timeout')!);
  const admin = value('admin')!;
  const adminAddress = admin === 'off' ? undefined : hostPort('admin', admin);
  const tlsCert = value('tls-cert');
  const tlsKey = value('tls-key');
  if (Boolean(tlsCert) !== Boolean(tlsKey)) throw new ConfigError('--tls-cert and --tls-key go together');
  const embedded = value('embedded')!;
  if (!['auto', 'always', 'never'].includes(embedded)) throw new ConfigError(`--embedded must be auto, always or never`);
  const embeddedData = value('embedded-data')!;
  const defaultModel = raw['default-model'];
  const socketDir = value('socket-dir')!;
  const perRole = value('max-model-calls-per-role');
  // Clients tell a socket directory from a host name by its leading slash.
  if (socketDir !== '' && !path.isAbsolute(socketDir)) throw new ConfigError(`--socket-dir must be an absolute path, got ${socketDir}`);
  const masterKeys = masterKeyList(givenMasterKey(value('master-key'), value('master-key-file')), value('previous-master-keys'));
  return {
    listen: hostPort('listen', value('listen')!),
    socketDir: socketDir === '' ? undefined : socketDir,
    socketDirExplicit: raw['socket-dir'] !== undefined,
    upstream: raw.upstream ? parseUpstreamUrl(raw.upstream, connectTimeoutMs) : upstreamFromLibpqEnv(env, connectTimeoutMs),
    upstreamExplicit: raw.upstream !== undefined || env.PGHOST !== undefined || env.PGPORT !== undefined,
    admin: adminAddress,
    adminToken: adminToken(adminAddress, raw['admin-token']),
    tls: tlsCert && tlsKey ? { cert: readPem(tlsCert), key: readPem(tlsKey) } : undefined,
    authRole: authRole(value, masterKeys),
    embedded: embedded as EmbeddedMode,
    embeddedData: embeddedData === 'memory' ? undefined : embeddedData,
    embeddedPassword: secretOption(value('embedded-password'), '--embedded-password', masterKeys),
    maxMessageSize: integer('max-message-size', value('max-message-size')!),
    startupTimeoutMs: integer('startup-timeout', value('startup-timeout')!),
    maxStartingConnections: Math.max(1, integer('max-starting-connections', value('max-starting-connections')!)),
    shutdownTimeoutMs: integer('shutdown-timeout', value('shutdown-timeout')!),
    masterKeys,
    defaultModel: defaultModel ? jsonObject('--default-model', defaultModel) : undefined,
    settingDefaults: raw.settings ? settingDefaults(raw.settings) : {},
    pgAiConfig: { file: value('pg-ai-config')!, required: raw['pg-ai-config'] !== undefined },
    callConcurrency: Math.max(1, integer('call-concurrency', value('call-concurrency')!)),
    argumentLimits: {
      call: Math.max(1, integer('max-argument-bytes', value('max-argument-bytes')!)),
      statement: Math.max(1, integer('max-statement-argument-bytes', value('max-statement-argument-bytes')!)),
    },
    maxModelCalls: Math.max(1, integer('max-model-calls', value('max-model-calls')!)),
    maxModelCallsPerRole: perRole === undefined ? undefined : Math.max(1, integer('max-model-calls-per-role', perRole)),
    priceTable: raw['price-table'] ? readPriceTable(raw['price-table']) : new Map(),
    roleDailyBudgets: raw['role-daily-budgets'] ? roleDailyBudgets(raw['role-daily-budgets']) : new Map(),
    maxResponseBytes: Math.max(1, integer('max-response-bytes', value('max-response-bytes')!)),
    maxEmbeddingResponseBytes: Math.max(1, integer('max-embedding-response-bytes', value('max-embedding-response-bytes')!)),
    providerHosts: { allow: hostList('provider-hosts-allow', raw['provider-hosts-allow']), deny: hostList('provider-hosts-deny', raw['provider-hosts-deny']) },
    documentHosts: hostList('document-hosts-allow', raw['document-hosts-allow']),
    metricsMaxModels: integer('metrics-max-models', value('metrics-max-models')!),
    responseCache: {
      entries: integer('response-cache-entries', value('response-cache-entries')!),
      ttlSeconds: integer('response-cache-ttl', value('response-cache-ttl')!),
      bytes: integer('response-cache-bytes', value('response-cache-bytes')!),
    },
    worker: {
      databases: (raw.worker ?? '').split(',').map((url) => url.trim()).filter((url) => url !== '').map(workerUrl),
      concurrency: Math.max(1, integer('worker-concurrency', value('worker-concurrency')!)),
      leaseMs: Math.max(1, integer('worker-lease', value('worker-lease')!)),
      pollMs: Math.max(1, integer('worker-poll', value('worker-poll')!)),
      retryDelayMs: integer('worker-retry-delay', value('worker-retry-delay')!),
      batchPollMs: Math.max(1, integer('worker-batch-poll', value('worker-batch-poll')!)),
      keepDoneSeconds: integer('worker-keep-done', value('worker-keep-done')!),
      maxJobBytes: Math.max(1, integer('max-argument-bytes', value('max-argument-bytes')!)),
    },
    logLevel: value('log-level')!,
    logFormat: logFormat(value('log-format')),
  };
}

/** Anyone who reaches an admin server beyond loopback sees the sessions and the calls: not without a token. */
function adminToken(address: { host: string } | undefined, token: string | undefined): string | undefined {
  if (token && [...token].length < MIN_TOKEN_LENGTH) throw new ConfigError(`--admin-token must be at least ${MIN_TOKEN_LENGTH} characters`);
  if (address && !token && !isLoopback(address.host)) {
    throw new ConfigError(`--admin ${address.host} listens beyond loopback: give --admin-token (PG_LLM_ADMIN_TOKEN), or listen on 127.0.0.1`);
  }
  return token || undefined;
}

function logFormat(given: string | undefined): LogFormat {
  if (given === undefined) return defaultLogFormat();
  if (!(LOG_FORMATS as readonly string[]).includes(given)) throw new ConfigError(`--log-format must be ${LOG_FORMATS.join(' or ')}, got ${given}`);
  return given as LogFormat;
}

function authRole(value: (name: OptionName) => string | undefined, masterKeys: string[]): AuthRole | undefined {
  const user = value('auth-user');
  const password = secretOption(value('auth-password'), '--auth-password', masterKeys);
  if (!user) {
    if (password !== undefined) throw new ConfigError('--auth-password needs --auth-user, the role it is the password of');
    return undefined;
  }
  return { user, password, database: value('auth-database')!, query: value('auth-query')! };
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

/** A --worker URL: the worker connects with it as it is, so it must name the role and the database. */
function workerUrl(text: string): string {
  const shape = 'postgres://ROLE[:PASSWORD]@HOST[:PORT]/DATABASE';
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    // The text may hold a password: only its shape is named.
    throw new ConfigError(`--worker: not a URL; expected ${shape}`);
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') throw new ConfigError(`--worker must be a postgres:// URL, got ${url.protocol}`);
  if (!(url.username || url.searchParams.get('user')) || url.pathname.length <= 1) throw new ConfigError(`--worker must name the role and the database: ${shape}`);
  return text;
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

const HOST_NAME = /^(\*\.)?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*\.?$/i;

/** A --provider-hosts-* or --document-hosts-allow list: each entry a host name, a `*.` wildcard of one, an address or a CIDR. */
function hostList(option: OptionName, text: string | undefined): HostEntry[] {
  const entries = (text ?? '').split(',').map((entry) => entry.trim()).filter((entry) => entry !== '');
  return entries.map((entry) => {
    const [given, prefix, ...rest] = entry.split('/');
    const address = given!.replace(/^\[(.*)\]$/, '$1');
    const family = isIP(address);
    const bits = family === 4 ? 32 : 128;
    if (family === 0 && prefix === undefined && HOST_NAME.test(entry)) return { name: entry.toLowerCase().replace(/\.$/, '') };
    if (family !== 0 && rest.length === 0 && (prefix === undefined || (/^\d+$/.test(prefix) && Number(prefix) <= bits))) {
      return { address, prefix: prefix === undefined ? bits : Number(prefix), family: family === 4 ? 'ipv4' : 'ipv6' };
    }
    throw new ConfigError(`--${option}: "${entry}" is neither a host name nor an address or CIDR`);
  });
}

function readPriceTable(file: string): Map<string, { input: number; output: number }> {
  let content: string;
  try {
    content = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError(`cannot read price table ${file}: ${(error as Error).message}`);
  }
  const prices = new Map<string, { input: number; output: number }>();
  for (const [model, price] of Object.entries(jsonObject(`price table ${file}`, content))) {
    const { input, output } = (price ?? {}) as Record<string, unknown>;
    if (typeof input !== 'number' || typeof output !== 'number' || input < 0 || output < 0) {
      throw new ConfigError(`price table ${file}: "${model}" needs "input" and "output", US dollars per million tokens`);
    }
    prices.set(model, { input, output });
  }
  return prices;
}

function roleDailyBudgets(text: string): Map<string, DailyBudget> {
  const budgets = new Map<string, DailyBudget>();
  for (const [role, given] of Object.entries(jsonObject('--role-daily-budgets', text))) {
    const invalid = new ConfigError(`--role-daily-budgets: "${role}" needs {"usd": US dollars, "calls": requests}, one or both, each from 0`);
    if (typeof given !== 'object' || given === null || Array.isArray(given)) throw invalid;
    const { usd, calls, ...others } = given as Record<string, unknown>;
    if (Object.keys(others).length > 0 || (usd === undefined && calls === undefined)) throw invalid;
    if (usd !== undefined && !(typeof usd === 'number' && usd >= 0)) throw invalid;
    if (calls !== undefined && !(Number.isSafeInteger(calls) && (calls as number) >= 0)) throw invalid;
    budgets.set(role, { ...(usd === undefined ? {} : { usd }), ...(calls === undefined ? {} : { calls: calls as number }) });
  }
  return budgets;
}

function settingDefaults(text: string): Record<string, string> {
  const defaults: Record<string, string> = {};
  for (const [key, value] of Object.entries(jsonObject('--settings', text))) {
    const name = key.replace(/^pg_llm\./, '');
    if (!DEFAULTABLE_SETTINGS.includes(name)) {
      throw new ConfigError(`--settings: unknown setting "${key}" (known: ${DEFAULTABLE_SETTINGS.join(', ')})`);
    }
    defaults[name] = String(value);
  }
  try {
    parseSettings(undefined, defaults);
  } catch (error) {
    throw new ConfigError(`--settings: ${(error as Error).message}`);
  }
  return defaults;
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

/** A secret as configured, or opened when sealed; errors name the place, never the secret. */
/** A password option as given, or opened when sealed. */
function secretOption(given: string | undefined, where: string, masterKeys: string[]): string | undefined {
  // Stretching a passphrase takes a while: only for a sealed password.
  return openedSecret(given, where, given && isSealedText(given) ? masterKeys.map(masterKey) : []);
}

export function openedSecret(secret: string | undefined, where: string, keys: MasterKey[]): string | undefined {
  if (!secret || !isSealedText(secret)) return secret || undefined;
  if (keys.length === 0) throw new ConfigError(`${where} is sealed, but no master key is configured (--master-key or PG_LLM_MASTER_KEY)`);
  try {
    return openText(secret, keys);
  } catch (error) {
    if (!(error instanceof SecretError)) throw error;
    throw new ConfigError(`${where} cannot be opened: ${error.message}`);
  }
}

function readPem(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError(`cannot read ${file}: ${(error as Error).message}`);
  }
}
