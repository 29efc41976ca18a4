// What each place a default model can be configured in says about one provider: part of a model config (the keys
// of pg_llm_add_model's config) and an API key. Which place is asked first is default-provider.ts's business.

import { ConfigError, openedSecret } from '../config.js';
import type { MasterKey } from '../crypto/secrets.js';
import { ADAPTER_NAMES } from './index.js';
import type { PgAiConfig, PgAiProvider } from './pg-ai-config.js';

export interface ModelSettings {
  /** Only the keys this place sets; undefined and empty values count as unset. */
  config: Record<string, unknown>;
  apiKey: string | undefined;
}

/** --default-model, checked, its api_key opened. */
export interface ConfiguredModel {
  provider: string;
  settings: ModelSettings;
}

/** pg_llm_bgw's variables (seed 001), which are also the ones the OpenAI and Anthropic SDKs read. */
export function fromEnvironment(provider: string, env: NodeJS.ProcessEnv): ModelSettings {
  switch (provider) {
    case 'openai':
    case 'openai_compatible':
      return { apiKey: env.OPENAI_API_KEY, config: { model_name: env.OPENAI_MODEL, base_url: env.OPENAI_BASE_URL } };
    case 'azure_openai': {
      const deployment = env.AZURE_OPENAI_DEPLOYMENT;
      const config = { model_name: deployment, deployment, base_url: env.AZURE_OPENAI_ENDPOINT, api_version: env.OPENAI_API_VERSION };
      return { apiKey: env.AZURE_OPENAI_API_KEY, config };
    }
    case 'anthropic':
      return { apiKey: env.ANTHROPIC_API_KEY, config: { model_name: env.ANTHROPIC_MODEL, base_url: env.ANTHROPIC_BASE_URL } };
    case 'ollama':
      return { apiKey: undefined, config: { model_name: env.OLLAMA_MODEL, base_url: env.OLLAMA_BASE_URL } };
    default:
      return { apiKey: undefined, config: {} };
  }
}

const NUMERIC_KEYS = ['timeout_ms', 'max_retries', 'max_concurrency', 'temperature', 'max_tokens'];

/** Refuses at start-up what would otherwise fail at every call. */
export function fromDefaultModel(model: Record<string, unknown>, keys: MasterKey[]): ConfiguredModel {
  const { provider, api_key: apiKey, base_url: baseUrl, endpoint, api_endpoint: apiEndpoint, ...config } = model;
  if (typeof provider !== 'string' || !ADAPTER_NAMES.includes(provider)) {
    throw new ConfigError(`--default-model: "provider" must be one of ${ADAPTER_NAMES.join(', ')}`);
  }
  for (const key of NUMERIC_KEYS) {
    const value = config[key];
    if (value !== undefined && !(typeof value === 'number' && value >= 0)) throw new ConfigError(`--default-model: "${key}" must be a number of at least 0`);
  }
  if (apiKey !== undefined && typeof apiKey !== 'string') throw new ConfigError('--default-model: "api_key" must be a string');
  // One spelling of the base URL, so that it merges key by key with the other places' base_url.
  const settings = { config: { ...config, base_url: baseUrl ?? endpoint ?? apiEndpoint }, apiKey: openedSecret(apiKey, '--default-model: api_key', keys) };
  return { provider, settings };
}

/** Google's OpenAI-compatible API: pg_ai_query's [gemini] section runs on the openai_compatible adapter. */
const GEMINI_BASE_URL = 'https://generativelanguage.googleapis.com/v1beta/openai/';

/** A provider section of pg_ai_query's file, with [general]'s request settings. */
export function fromPgAi(provider: PgAiProvider, pgAi: PgAiConfig, keys: MasterKey[]): ModelSettings {
  const section = pgAi[provider];
  const config = {
    model_name: section.default_model,
    base_url: pgAiBaseUrl(provider, section.api_endpoint),
    timeout_ms: pgAi.general.request_timeout_ms,
    max_retries: pgAi.general.max_retries,
  };
  return { config, apiKey: openedSecret(section.api_key, `${pgAi.file}: [${provider}] api_key`, keys) };
}

/** pg_ai_query appends /v1/chat/completions to [openai]'s api_endpoint (https://api.openai.com); the SDK wants the /v1. */
function pgAiBaseUrl(provider: PgAiProvider, endpoint: string | undefined): string | undefined {
  if (provider === 'gemini') return endpoint ?? GEMINI_BASE_URL;
  if (provider === 'openai' && endpoint && !/\/v1\/?$/.test(endpoint)) return `${endpoint.replace(/\/+$/, '')}/v1`;
  return endpoint;
}
