import { describe, expect, it } from 'vitest';
import { PgError } from '../../proxy/pg-error.js';
import { ConfigError } from '../../src/config.js';
import { masterKey, sealText } from '../../src/crypto/secrets.js';
import { DefaultProviders, type DefaultSources } from '../../src/providers/default-provider.js';
import { parsePgAiConfig } from '../../src/providers/pg-ai-config.js';

const KEY = masterKey('unit master key');

function pgAi(...lines: string[]) {
  return parsePgAiConfig(lines.join('\n'), '/etc/pg_ai.config').config;
}

function defaults(sources: Partial<DefaultSources>): DefaultProviders {
  return new DefaultProviders({ env: {}, masterKeys: [KEY], ...sources });
}

const OPTION = { provider: 'openai', model_name: 'gpt-option', api_key: 'sk-option' };
const FILE = pgAi('[anthropic]', 'api_key = sk-ant-file', '[openai]', 'api_key = sk-file', 'default_model = gpt-file');

describe('default provider resolution', () => {
  it.each<[string, Partial<DefaultSources>, string, string]>([
    ['LLM_PROVIDER over everything', { env: { LLM_PROVIDER: 'Anthropic', OPENAI_API_KEY: 'k' }, model: OPTION, pgAi: FILE }, 'anthropic', 'LLM_PROVIDER'],
    ['--default-model over the environment', { env: { AZURE_OPENAI_ENDPOINT: 'https://a', ANTHROPIC_API_KEY: 'k' }, model: { provider: 'ollama' }, pgAi: FILE }, 'ollama', '--default-model'],
    ['Azure before Anthropic by presence', { env: { AZURE_OPENAI_ENDPOINT: 'https://a', ANTHROPIC_API_KEY: 'k', OPENAI_API_KEY: 'k' } }, 'azure_openai', 'AZURE_OPENAI_ENDPOINT'],
    ['Anthropic before OpenAI by presence', { env: { ANTHROPIC_API_KEY: 'k', OPENAI_API_KEY: 'k' } }, 'anthropic', 'ANTHROPIC_API_KEY'],
    ['the environment over the pg_ai file', { env: { OPENAI_API_KEY: 'k' }, pgAi: pgAi('[anthropic]', 'api_key = a') }, 'openai', 'OPENAI_API_KEY'],
    ["the pg_ai file's first section with a key", { pgAi: pgAi('[openai]', 'api_key = ""', '[gemini]', 'api_key = g', '[anthropic]', 'api_key = a') }, 'anthropic', '[anthropic] of /etc/pg_ai.config'],
    ['gemini when it is the only key', { pgAi: pgAi('[gemini]', 'api_key = g') }, 'gemini', '[gemini] of /etc/pg_ai.config'],
    ['openai when nothing is configured', {}, 'openai', 'nothing configured'],
  ])('%s', (_name, sources, provider, chosenBy) => {
    const resolved = defaults(sources);
    expect([resolved.provider, resolved.chosenBy]).toEqual([provider, chosenBy]);
  });

  it('merges the environment first when LLM_PROVIDER chose, then --default-model, then the pg_ai file', () => {
    const env = { LLM_PROVIDER: 'openai', OPENAI_MODEL: 'gpt-env' };
    const model = defaults({ env, model: { ...OPTION, temperature: 0.5 }, pgAi: pgAi('[general]', 'max_retries = 7', '[openai]', 'api_key = sk-file', 'api_endpoint = https://file.example') }).model();
    expect(model).toEqual({
      provider: 'openai',
      config: { provider: 'openai', model_name: 'gpt-env', temperature: 0.5, base_url: 'https://file.example/v1', timeout_ms: 30000, max_retries: 7 },
      apiKey: 'sk-option',
    });
  });

  it('puts --default-model before the environment when it chose', () => {
    const model = defaults({ env: { OPENAI_MODEL: 'gpt-env', OPENAI_API_KEY: 'sk-env' }, model: { provider: 'openai', endpoint: 'https://option.example/v1' } }).model();
    expect(model).toEqual({ provider: 'openai', config: { provider: 'openai', model_name: 'gpt-env', base_url: 'https://option.example/v1' }, apiKey: 'sk-env' });
    expect(defaults({ env: { OPENAI_MODEL: 'gpt-env' }, model: OPTION }).model().config.model_name).toBe('gpt-option');
  });

  it("maps pg_ai's sections to the adapters, with their default models", () => {
    const file = pgAi('[openai]', 'api_key = o', 'api_endpoint = http://127.0.0.1:9/', '[anthropic]', 'api_key = a', 'api_endpoint = http://127.0.0.1:8', '[gemini]', 'api_key = g');
    const sources = { pgAi: file };
    expect(defaults(sources).named('openai').config).toMatchObject({ provider: 'openai', model_name: 'gpt-4o-mini', base_url: 'http://127.0.0.1:9/v1' });
    expect(defaults(sources).named('anthropic').config).toMatchObject({ provider: 'anthropic', model_name: 'claude-sonnet-4-6', base_url: 'http://127.0.0.1:8' });
    expect(defaults(sources).named('gemini')).toEqual({
      provider: 'gemini',
      config: { provider: 'openai_compatible', model_name: 'gemini-2.5-flash', base_url: 'https://generativelanguage.googleapis.com/v1beta/openai/', timeout_ms: 30000, max_retries: 3 },
      apiKey: 'g',
    });
  });

  it('gives a named provider from the same places, an explicit key overriding theirs', () => {
    const resolved = defaults({ env: { ANTHROPIC_MODEL: 'claude-env' }, model: OPTION, pgAi: FILE });
    expect(resolved.named('anthropic')).toMatchObject({ provider: 'anthropic', config: { model_name: 'claude-env' }, apiKey: 'sk-ant-file' });
    expect(resolved.named('anthropic', 'sk-arg').apiKey).toBe('sk-arg');
    expect(resolved.named('openai', null)).toEqual(resolved.model());
    expect(() => resolved.named('gpt')).toThrowError(PgError);
    expect(() => resolved.named('gpt')).toThrowError('unknown LLM provider "gpt"');
  });

  it('fails calls, not start-up, for want of a key, naming every way to give one', () => {
    const resolved = defaults({});
    const error = (() => {
      try {
        resolved.model();
      } catch (caught) {
        return caught as PgError;
      }
    })();
    expect(error).toMatchObject({ sqlstate: '55000', message: 'no API key for the default LLM provider openai' });
    for (const way of ['OPENAI_API_KEY', '--default-model', 'PG_LLM_DEFAULT_MODEL', '[openai] section of ~/.pg_ai.config', 'LLM_PROVIDER']) expect(error!.hint).toContain(way);
    expect(() => defaults({ env: { LLM_PROVIDER: 'gemini' } }).model()).toThrowError('no API key for the default LLM provider gemini');
    expect(defaults({ env: { LLM_PROVIDER: 'ollama' } }).model()).toMatchObject({ config: { provider: 'ollama', model_name: 'llama3.2' }, apiKey: undefined });
    expect(defaults({}).named('anthropic', 'sk-arg').apiKey).toBe('sk-arg');
  });

  it('opens sealed keys at start-up, and refuses ones it cannot open without showing them', () => {
    const sealed = sealText('sk-sealed-plain', KEY);
    expect(defaults({ model: { provider: 'openai', api_key: sealed } }).model().apiKey).toBe('sk-sealed-plain');
    expect(defaults({ pgAi: pgAi('[anthropic]', `api_key = "${sealed}"`) }).model().apiKey).toBe('sk-sealed-plain');
    const refusals: Array<[Partial<DefaultSources>, string]> = [
      [{ model: { provider: 'openai', api_key: sealed }, masterKeys: [masterKey('another key')] }, '--default-model: api_key cannot be opened: stored secret was sealed with a master key that is not configured'],
      [{ pgAi: pgAi('[gemini]', `api_key = ${sealed}`), masterKeys: [] }, '/etc/pg_ai.config: [gemini] api_key is sealed, but no master key is configured'],
      [{ model: { provider: 'openai', api_key: 'sealed:v9:abc' } }, '--default-model: api_key cannot be opened: sealed value has an unknown format'],
      [{ model: { provider: 'openai', api_key: `${sealed.slice(0, -6)}AAAA==` } }, 'failed authentication'],
    ];
    for (const [sources, message] of refusals) {
      expect(() => defaults(sources)).toThrowError(ConfigError);
      expect(() => defaults(sources)).toThrowError(message);
    }
  });

  it('refuses unknown providers and malformed --default-model at start-up', () => {
    expect(() => defaults({ env: { LLM_PROVIDER: 'gpt' } })).toThrowError('LLM_PROVIDER names unknown provider "gpt"');
    expect(() => defaults({ model: { model_name: 'x' } })).toThrowError('--default-model: "provider" must be one of');
    expect(() => defaults({ model: { provider: 'gemini' } })).toThrowError(ConfigError);
    expect(() => defaults({ model: { provider: 'openai', timeout_ms: '5s' } })).toThrowError('--default-model: "timeout_ms" must be a number of at least 0');
    expect(() => defaults({ model: { provider: 'openai', api_key: 42 } })).toThrowError('--default-model: "api_key" must be a string');
  });
});
