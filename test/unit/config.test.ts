import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, helpText, parseCommandLine, type Config } from '../../src/config.js';
import { masterKey, sealText } from '../../src/crypto/secrets.js';

function config(argv: string[], env: NodeJS.ProcessEnv = {}): Config {
  const command = parseCommandLine(argv, env);
  if (command.kind !== 'run') throw new Error(`expected a run command, got ${command.kind}`);
  return command.config;
}

describe('configuration', () => {
  it('has the documented defaults', () => {
    const defaults = config([]);
    expect(defaults.listen).toEqual({ host: '127.0.0.1', port: 6543 });
    expect(defaults.admin).toEqual({ host: '127.0.0.1', port: 6544 });
    expect(defaults.upstream).toMatchObject({ host: 'localhost', port: 5432, sslMode: 'prefer' });
    expect(defaults.upstreamExplicit).toBe(false);
    expect(defaults.embedded).toBe('auto');
    expect(defaults.socketDir).toBe('/tmp');
    expect(defaults.socketDirExplicit).toBe(false);
  });

  it('takes a Unix socket directory, told from the default however it is given, and none when it is given empty in any form', () => {
    expect(config(['--socket-dir', '/run/pg-llm'])).toMatchObject({ socketDir: '/run/pg-llm', socketDirExplicit: true });
    expect(config([], { PG_LLM_SOCKET_DIR: '/tmp' })).toMatchObject({ socketDir: '/tmp', socketDirExplicit: true });
    expect(config(['--socket-dir='], { PG_LLM_SOCKET_DIR: '/run/pg-llm' }).socketDir).toBeUndefined();
    expect(config([], { PG_LLM_SOCKET_DIR: '' }).socketDir).toBeUndefined();
    const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'pg-llm-config-')), 'proxy.json');
    writeFileSync(file, JSON.stringify({ 'socket-dir': '' }));
    expect(config(['--config', file]).socketDir).toBeUndefined();
  });

  it('takes the upstream from the libpq environment when none is given', () => {
    const fromEnv = config([], { PGHOST: '/var/run/postgresql', PGPORT: '5433', PGSSLMODE: 'disable' });
    expect(fromEnv.upstream).toMatchObject({ socketDir: '/var/run/postgresql', port: 5433, sslMode: 'disable' });
    expect(fromEnv.upstreamExplicit).toBe(true);
  });

  it('prefers the command line to the environment and the environment to the config file', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'pg-llm-config-'));
    const file = path.join(dir, 'proxy.json');
    writeFileSync(file, JSON.stringify({ listen: '0.0.0.0:7000', admin: '127.0.0.1:7001', 'log-level': 'debug' }));
    const resolved = config(['--config', file, '--listen=127.0.0.1:7100'], { PG_LLM_ADMIN: 'off' });
    expect(resolved.listen).toEqual({ host: '127.0.0.1', port: 7100 });
    expect(resolved.admin).toBeUndefined();
    expect(resolved.logLevel).toBe('debug');
  });

  it('refuses an admin server beyond loopback without a token, and a token too short', () => {
    const token = 'a-token-of-24-characters';
    for (const admin of ['0.0.0.0:6544', '[::]:6544', '192.0.2.7:6544', 'admin.example:6544']) {
      expect(() => config(['--admin', admin])).toThrowError(/listens beyond loopback: give --admin-token \(PG_LLM_ADMIN_TOKEN\)/);
      expect(() => config(['--admin', admin], { PG_LLM_ADMIN_TOKEN: '' })).toThrowError(/listens beyond loopback/);
      expect(config(['--admin', admin], { PG_LLM_ADMIN_TOKEN: token }).adminToken).toBe(token);
    }
    for (const admin of ['127.0.0.1:6544', '127.8.9.1:6544', '[::1]:6544', 'localhost:6544', 'off']) expect(config(['--admin', admin]).adminToken).toBeUndefined();
    expect(config(['--admin-token', token]).adminToken).toBe(token);
    expect(() => config(['--admin-token', 'short'])).toThrowError('--admin-token must be at least 16 characters');
  });

  it('takes the master key first, then the previous keys, from any source', () => {
    expect(config([]).masterKeys).toEqual([]);
    expect(config(['--master-key', 'new', '--previous-master-keys', 'old, older,'], {}).masterKeys).toEqual(['new', 'old', 'older']);
    expect(config([], { PG_LLM_MASTER_KEY: 'new', PG_LLM_PREVIOUS_MASTER_KEYS: 'old' }).masterKeys).toEqual(['new', 'old']);
    const dir = mkdtempSync(path.join(os.tmpdir(), 'pg-llm-config-'));
    const file = path.join(dir, 'proxy.json');
    writeFileSync(file, JSON.stringify({ 'master-key': 'new', 'previous-master-keys': 'old' }));
    expect(config(['--config', file]).masterKeys).toEqual(['new', 'old']);
  });

  it('reads the master key from a file only its owner may read, without its line end', () => {
    const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'pg-llm-config-')), 'master.key');
    writeFileSync(file, 'from a file\n', { mode: 0o600 });
    expect(config(['--master-key-file', file]).masterKeys).toEqual(['from a file']);
    expect(config([], { PG_LLM_MASTER_KEY_FILE: file, PG_LLM_PREVIOUS_MASTER_KEYS: 'old' }).masterKeys).toEqual(['from a file', 'old']);
    expect(parseCommandLine(['seal-secret', '--master-key-file', file], {})).toEqual({ kind: 'seal-secret', masterKey: 'from a file' });
    expect(parseCommandLine(['migrate', '--database-url', 'postgres://h/db'], { PG_LLM_MASTER_KEY_FILE: file })).toMatchObject({ masterKeys: ['from a file'] });
    expect(() => config(['--master-key-file', file], { PG_LLM_MASTER_KEY: 'another' })).toThrowError(/give the master key once/);
    chmodSync(file, 0o640);
    expect(() => config(['--master-key-file', file])).toThrowError(`--master-key-file ${file} may be read by others than its owner (mode 0640): chmod 600 ${file}`);
    expect(() => config(['--master-key-file', `${file}.missing`])).toThrowError(/cannot read --master-key-file/);
  });

  it('says in --help that a master key on the command line shows in ps', () => {
    expect(helpText()).toMatch(/--master-key KEY\n.*shows in ps.*--master-key-file/);
    expect(helpText()).toContain('PG_LLM_MASTER_KEY_FILE');
  });

  it('reads rotate-master-key from flags, else the environment', () => {
    expect(parseCommandLine(['rotate-master-key', '--database-url', 'postgres://h/db', '--master-key', 'old', '--new-master-key=new'], {})).toEqual({
      kind: 'rotate-master-key',
      databaseUrl: 'postgres://h/db',
      oldKeys: ['old'],
      newKey: 'new',
      logLevel: 'info',
    });
    const env = { DATABASE_URL: 'postgres://h/db', PG_LLM_MASTER_KEY: 'old', PG_LLM_PREVIOUS_MASTER_KEYS: 'older', PG_LLM_NEW_MASTER_KEY: 'new' };
    expect(parseCommandLine(['rotate-master-key'], env)).toMatchObject({ oldKeys: ['old', 'older'], newKey: 'new' });
    expect(parseCommandLine(['rotate-master-key', '--master-key', 'given'], env)).toMatchObject({ oldKeys: ['given', 'older'] });
  });

  it('reads migrate\'s master keys (to bind older secrets to their rows) from flags, else the environment', () => {
    expect(parseCommandLine(['migrate', '--database-url', 'postgres://h/db', '--master-key', 'k'], {})).toEqual({
      kind: 'migrate',
      databaseUrl: 'postgres://h/db',
      masterKeys: ['k'],
      logLevel: 'info',
    });
    expect(parseCommandLine(['migrate'], { DATABASE_URL: 'postgres://h/db', PG_LLM_MASTER_KEY: 'k', PG_LLM_PREVIOUS_MASTER_KEYS: 'old' })).toMatchObject({ masterKeys: ['k', 'old'] });
    expect(parseCommandLine(['migrate'], { DATABASE_URL: 'postgres://h/db' })).toMatchObject({ masterKeys: [] });
  });

  it.each([
    [['rotate-master-key', '--master-key', 'old', '--new-master-key', 'new'], /needs --database-url/],
    [['rotate-master-key', '--database-url', 'postgres://h/db', '--new-master-key', 'new'], /needs --master-key/],
    [['rotate-master-key', '--database-url', 'postgres://h/db', '--master-key', 'old'], /needs --new-master-key/],
    [['rotate-master-key', '--listen', '127.0.0.1:1'], /unknown argument --listen for rotate-master-key/],
    [['migrate', '--new-master-key', 'k'], /unknown argument --new-master-key for migrate/],
  ])('rejects the subcommand %j with a clear message', (argv, message) => {
    expect(() => parseCommandLine(argv, {})).toThrowError(ConfigError);
    expect(() => parseCommandLine(argv, {})).toThrowError(message);
  });

  it('reads sslmode, a socket directory and the port from an upstream URL', () => {
    const resolved = config(['--upstream', 'postgres://db.internal:6000/?sslmode=require']);
    expect(resolved.upstream).toMatchObject({ host: 'db.internal', port: 6000, sslMode: 'require' });
    expect(config(['--upstream', 'postgresql://?host=/tmp/sock']).upstream).toMatchObject({ socketDir: '/tmp/sock', port: 5432 });
    expect(config(['--upstream', 'postgresql:///?host=/tmp/sock&port=5499']).upstream).toMatchObject({ socketDir: '/tmp/sock', port: 5499 });
  });

  it.each([
    [['--listen', 'nope'], /HOST:PORT/],
    [['--upstream', 'mysql://x'], /postgres:\/\//],
    [['--upstream', 'postgres://h/?sslmode=verify-full'], /sslrootcert/],
    [['--upstream', 'postgres://h/?sslmode=bogus'], /sslmode must be one of/],
    [['--tls-cert', '/x'], /go together/],
    [['--bogus'], /unknown argument/],
    [['--listen'], /needs a value/],
    [['--max-message-size', '-1'], /whole number/],
    [['--previous-master-keys', 'old'], /needs --master-key/],
    [['--socket-dir', 'sockets'], /--socket-dir must be an absolute path/],
  ])('rejects %j with a clear message', (argv, message) => {
    expect(() => config(argv)).toThrowError(ConfigError);
    expect(() => config(argv)).toThrowError(message);
  });

  it('refuses a config file that is not a JSON object without quoting it', () => {
    const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'pg-llm-config-')), 'proxy.json');
    writeFileSync(file, '{"master-key": secret-passphrase}');
    expect(() => config(['--config', file])).toThrowError(`config file ${file} is not valid JSON`);
    expect(() => config(['--config', file])).not.toThrowError(/secret-passphrase/);
    writeFileSync(file, '["secret-passphrase"]');
    expect(() => config(['--config', file])).toThrowError(`config file ${file} must hold a JSON object`);
  });

  it('takes --default-model as JSON from the command line or the environment, and as an object from the config file', () => {
    const model = { provider: 'openai', model_name: 'gpt-4o', api_key: 'sealed:v1:AAAA' };
    expect(config(['--default-model', JSON.stringify(model)]).defaultModel).toEqual(model);
    expect(config([], { PG_LLM_DEFAULT_MODEL: JSON.stringify(model) }).defaultModel).toEqual(model);
    const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'pg-llm-config-')), 'proxy.json');
    writeFileSync(file, JSON.stringify({ 'default-model': model, 'call-concurrency': 4 }));
    expect(config(['--config', file])).toMatchObject({ defaultModel: model, callConcurrency: 4 });
    expect(config([]).defaultModel).toBeUndefined();
  });

  it('refuses a --default-model that is not a JSON object without quoting it', () => {
    expect(() => config(['--default-model', '{"provider": "openai", "api_key": sk-secret}'])).toThrowError(/^--default-model is not valid JSON$/);
    expect(() => config(['--default-model', '{"api_key": "sk-secret"'])).toThrowError(/^--default-model is not valid JSON \(at position \d+/);
    expect(() => config(['--default-model', '["sk-secret"]'])).toThrowError('--default-model must hold a JSON object');
  });

  it('reads ~/.pg_ai.config unless another file is named, which must then exist', () => {
    expect(config([]).pgAiConfig).toEqual({ file: path.join(os.homedir(), '.pg_ai.config'), required: false });
    expect(config(['--pg-ai-config', '/etc/pg_ai.config']).pgAiConfig).toEqual({ file: '/etc/pg_ai.config', required: true });
    expect(config([], { PG_AI_CONFIG: '/srv/ai.ini' }).pgAiConfig).toEqual({ file: '/srv/ai.ini', required: true });
  });

  it('parses seal-secret, which needs a master key', () => {
    expect(parseCommandLine(['seal-secret'], { PG_LLM_MASTER_KEY: 'from env' })).toEqual({ kind: 'seal-secret', masterKey: 'from env' });
    expect(parseCommandLine(['seal-secret', '--master-key=k1'], { PG_LLM_MASTER_KEY: 'from env' })).toEqual({ kind: 'seal-secret', masterKey: 'k1' });
    expect(parseCommandLine(['seal-secret', '--master-key', 'k2'], {})).toEqual({ kind: 'seal-secret', masterKey: 'k2' });
    expect(parseCommandLine(['seal-secret', '--help'], {})).toEqual({ kind: 'help' });
    expect(() => parseCommandLine(['seal-secret'], {})).toThrowError(/seal-secret needs the master key/);
    expect(() => parseCommandLine(['seal-secret', '--listen', 'x'], { PG_LLM_MASTER_KEY: 'k' })).toThrowError('unknown argument --listen for seal-secret');
  });

  it('takes the auth role, its password opened when sealed in the config file, else relays authentication', () => {
    expect(config([]).authRole).toBeUndefined();
    expect(config(['--auth-user', 'proxy_auth'], { PG_LLM_AUTH_PASSWORD: 'plain' }).authRole).toEqual({
      user: 'proxy_auth',
      password: 'plain',
      database: 'postgres',
      query: 'SELECT llm_proxy_auth.role_secret($1)',
    });
    const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'pg-llm-config-')), 'proxy.json');
    const sealed = sealText('auth secret', masterKey('the key'));
    writeFileSync(file, JSON.stringify({ 'auth-user': 'proxy_auth', 'auth-password': sealed, 'auth-database': 'app', 'master-key': 'the key' }));
    expect(config(['--config', file]).authRole).toMatchObject({ password: 'auth secret', database: 'app' });
    expect(() => config(['--config', file, '--master-key', 'another key'])).toThrowError('--auth-password cannot be opened');
    expect(() => config(['--auth-password', 'plain'])).toThrowError('--auth-password needs --auth-user');
  });

  it('takes the embedded server’s password as given, sealed or not, and none by default', () => {
    expect(config([]).embeddedPassword).toBeUndefined();
    expect(config([], { PG_LLM_EMBEDDED_PASSWORD: 'plain' }).embeddedPassword).toBe('plain');
    const sealed = sealText('embedded secret', masterKey('the key'));
    expect(config(['--embedded-password', sealed, '--master-key', 'the key']).embeddedPassword).toBe('embedded secret');
    expect(() => config(['--embedded-password', sealed])).toThrowError('--embedded-password is sealed, but no master key is configured');
  });

  it('takes --settings as server-wide pg_llm.* defaults, checked at start-up', () => {
    expect(config(['--settings', '{"pg_llm.trace_enabled": "on", "audit_sample_rate": 0.5}']).settingDefaults).toEqual({ trace_enabled: 'on', audit_sample_rate: '0.5' });
    expect(config([]).settingDefaults).toEqual({});
    expect(() => config(['--settings', '{"tracing": "on"}'])).toThrowError(/--settings: unknown setting "tracing"/);
    expect(() => config(['--settings', '{"master_key": "k"}'])).toThrowError(/unknown setting "master_key"/);
    expect(() => config(['--settings', '{"audit_sample_rate": 3}'])).toThrowError('--settings: invalid value for parameter "pg_llm.audit_sample_rate": "3"');
  });

  it('takes --worker repeated, comma-separated from the environment, or as a list in the config file', () => {
    const a = 'postgres://enricher:pw@db1:5432/app';
    const b = 'postgresql://svc@db2/other?sslmode=require';
    expect(config([]).worker).toEqual({ databases: [], concurrency: 32, leaseMs: 30_000, pollMs: 5000, retryDelayMs: 1000, batchPollMs: 60_000, keepDoneSeconds: 86_400, maxJobBytes: 32 * 1024 ** 2 });
    expect(config(['--worker', a, `--worker=${b}`]).worker.databases).toEqual([a, b]);
    expect(config([], { PG_LLM_WORKER: `${a}, ${b}`, PG_LLM_WORKER_LEASE: '2000' }).worker).toMatchObject({ databases: [a, b], leaseMs: 2000 });
    const dir = mkdtempSync(path.join(os.tmpdir(), 'pg-llm-config-'));
    const file = path.join(dir, 'proxy.json');
    writeFileSync(file, JSON.stringify({ worker: [a, b], 'worker-concurrency': 4 }));
    expect(config(['--config', file]).worker).toMatchObject({ databases: [a, b], concurrency: 4 });
  });

  it('refuses a --worker URL without a role or a database, and never quotes one that may hold a password', () => {
    expect(() => config(['--worker', 'postgres://db1:5432/app'])).toThrow(/must name the role and the database/);
    expect(() => config(['--worker', 'postgres://svc@db1:5432'])).toThrow(/must name the role and the database/);
    expect(() => config(['--worker', 'http://svc@db1/app'])).toThrow(/must be a postgres:\/\/ URL/);
    expect(() => config(['--worker', 'svc:secret-pw@nowhere'])).toThrow(ConfigError);
    expect(() => config(['--worker', 'svc:secret-pw@nowhere'])).not.toThrow(/secret-pw/);
  });

  it('takes the provider-host lists from any source, and refuses an entry that is neither a host nor an address', () => {
    expect(config([]).providerHosts).toEqual({ allow: [], deny: [] });
    expect(config(['--provider-hosts-deny', '10.0.0.0/8, [::1]', '--provider-hosts-deny=Vault.Corp.example.']).providerHosts.deny).toEqual([
      { address: '10.0.0.0', prefix: 8, family: 'ipv4' },
      { address: '::1', prefix: 128, family: 'ipv6' },
      { name: 'vault.corp.example' },
    ]);
    expect(config([], { PG_LLM_PROVIDER_HOSTS_ALLOW: '*.openai.azure.com,192.168.1.5' }).providerHosts.allow).toEqual([
      { name: '*.openai.azure.com' },
      { address: '192.168.1.5', prefix: 32, family: 'ipv4' },
    ]);
    for (const entry of ['10.0.0.0/33', 'http://host', 'fe80::/x', 'a..b']) {
      expect(() => config(['--provider-hosts-allow', entry])).toThrow(/--provider-hosts-allow: .* is neither a host name nor an address or CIDR/);
    }
  });

  it('takes the internal hosts documents may be fetched from, none by default', () => {
    expect(config([]).documentHosts).toEqual([]);
    expect(config([], { PG_LLM_DOCUMENT_HOSTS_ALLOW: '127.0.0.0/8, docs.internal' }).documentHosts).toEqual([
      { address: '127.0.0.0', prefix: 8, family: 'ipv4' },
      { name: 'docs.internal' },
    ]);
    expect(() => config(['--document-hosts-allow', 'http://host'])).toThrow(/--document-hosts-allow: .* is neither a host name nor an address or CIDR/);
  });

  it('takes the answer caps: 8 MiB for chat, 128 MiB for embeddings by default', () => {
    expect(config([]).maxResponseBytes).toBe(8 * 1024 ** 2);
    expect(config([]).maxEmbeddingResponseBytes).toBe(128 * 1024 ** 2);
    expect(config([], { PG_LLM_MAX_RESPONSE_BYTES: '1000' }).maxResponseBytes).toBe(1000);
  });

  it("takes the caps on calls' arguments: 32 MiB a call, 128 MiB a statement by default", () => {
    expect(config([]).argumentLimits).toEqual({ call: 32 * 1024 ** 2, statement: 128 * 1024 ** 2 });
    expect(config(['--max-argument-bytes', '1000'], { PG_LLM_MAX_STATEMENT_ARGUMENT_BYTES: '4000' }).argumentLimits).toEqual({ call: 1000, statement: 4000 });
    // The llm.call worker reads no more of a job than a call's arguments may take.
    expect(config(['--max-argument-bytes', '1000']).worker.maxJobBytes).toBe(1000);
    expect(() => config(['--max-argument-bytes', 'lots'])).toThrow(ConfigError);
  });

  it('takes the bound of model labels on /metrics, 50 by default', () => {
    expect(config([]).metricsMaxModels).toBe(50);
    expect(config(['--metrics-max-models', '5']).metricsMaxModels).toBe(5);
  });

  it('takes the daily budgets of roles, in US dollars and requests, none by default', () => {
    expect(config([]).roleDailyBudgets).toEqual(new Map());
    const budgets = '{"analyst": {"usd": 5, "calls": 10000}, "*": {"usd": 0.5}, "batch": {"calls": 0}}';
    expect(config([], { PG_LLM_ROLE_DAILY_BUDGETS: budgets }).roleDailyBudgets).toEqual(
      new Map([['analyst', { usd: 5, calls: 10000 }], ['*', { usd: 0.5 }], ['batch', { calls: 0 }]]),
    );
    for (const wrong of ['{"analyst": 5}', '{"analyst": {}}', '{"analyst": {"usd": -1}}', '{"analyst": {"calls": 1.5}}', '{"analyst": {"dollars": 5}}', '[]']) {
      expect(() => config(['--role-daily-budgets', wrong])).toThrow(ConfigError);
    }
    expect(() => config(['--settings', '{"max_cost_per_statement": "lots"}'])).toThrowError('--settings: invalid value for parameter "pg_llm.max_cost_per_statement": "lots"');
    expect(config(['--settings', '{"max_calls_per_statement": 100}']).settingDefaults).toEqual({ max_calls_per_statement: '100' });
  });

  it("takes one role's share of the model calls, unset (a quarter of --max-model-calls) by default", () => {
    expect(config([]).maxModelCallsPerRole).toBeUndefined();
    expect(config(['--max-model-calls-per-role', '8']).maxModelCallsPerRole).toBe(8);
    expect(config([], { PG_LLM_MAX_MODEL_CALLS_PER_ROLE: '0' }).maxModelCallsPerRole).toBe(1);
    expect(() => config(['--max-model-calls-per-role', 'many'])).toThrow(ConfigError);
  });

  it('documents every option in --help', () => {
    expect(parseCommandLine(['--help'], {})).toEqual({ kind: 'help' });
    const flags = ['--listen', '--upstream', '--admin', '--config', '--tls-cert', '--tls-key', '--embedded', '--embedded-password', '--log-level', '--previous-master-keys', '--default-model', '--pg-ai-config', '--max-response-bytes', '--max-embedding-response-bytes', '--max-argument-bytes', '--max-statement-argument-bytes', '--provider-hosts-allow', '--provider-hosts-deny', '--document-hosts-allow', '--metrics-max-models', '--socket-dir', '--max-model-calls-per-role', '--admin-token', '--role-daily-budgets'];
    for (const flag of [...flags, 'rotate-master-key', '--new-master-key', 'PG_LLM_NEW_MASTER_KEY', 'seal-secret']) {
      expect(helpText()).toContain(flag);
    }
    expect(helpText()).toContain('PG_LLM_UPSTREAM');
  });
});
