// The provider used by functions that name no model (llm_ask): chosen from the environment the way pg_llm_bgw does
// (seed 001, LangChain's conventions). LLM_PROVIDER wins; otherwise the first configured of Azure OpenAI
// (AZURE_OPENAI_ENDPOINT), Anthropic (ANTHROPIC_API_KEY), OpenAI (OPENAI_API_KEY); otherwise OpenAI, which then
// fails with a clear error for want of a key.

import { PgError } from '../../proxy/pg-error.js';

export interface DefaultModel {
  provider: string;
  config: Record<string, unknown>;
  apiKey: string | undefined;
}

const KNOWN = ['openai', 'azure_openai', 'anthropic', 'ollama', 'openai_compatible', 'mock'];

export function defaultProviderName(env: NodeJS.ProcessEnv = process.env): string {
  const chosen = env.LLM_PROVIDER?.trim().toLowerCase();
  if (chosen) {
    if (!KNOWN.includes(chosen)) throw new PgError('22023', `LLM_PROVIDER names unknown provider "${chosen}"`, { hint: `Known providers: ${KNOWN.join(', ')}.` });
    return chosen;
  }
  if (env.AZURE_OPENAI_ENDPOINT) return 'azure_openai';
  if (env.ANTHROPIC_API_KEY) return 'anthropic';
  return 'openai';
}

/** The default model's provider config; fails fast, naming the variables to set, when its key is missing. */
export function defaultModel(env: NodeJS.ProcessEnv = process.env): DefaultModel {
  const provider = defaultProviderName(env);
  const settings: Record<string, { key?: string; config: Record<string, unknown> }> = {
    openai: { key: env.OPENAI_API_KEY, config: { model_name: env.OPENAI_MODEL ?? 'gpt-4o-mini', base_url: env.OPENAI_BASE_URL } },
    azure_openai: {
      key: env.AZURE_OPENAI_API_KEY,
      config: { model_name: env.AZURE_OPENAI_DEPLOYMENT, deployment: env.AZURE_OPENAI_DEPLOYMENT, base_url: env.AZURE_OPENAI_ENDPOINT, api_version: env.OPENAI_API_VERSION },
    },
    anthropic: { key: env.ANTHROPIC_API_KEY, config: { model_name: env.ANTHROPIC_MODEL ?? 'claude-sonnet-4-5', base_url: env.ANTHROPIC_BASE_URL } },
    ollama: { config: { model_name: env.OLLAMA_MODEL ?? 'llama3.2', base_url: env.OLLAMA_BASE_URL } },
    openai_compatible: { key: env.OPENAI_API_KEY, config: { model_name: env.OPENAI_MODEL, base_url: env.OPENAI_BASE_URL } },
    mock: { config: {} },
  };
  const { key, config } = settings[provider]!;
  const needsKey = provider === 'openai' || provider === 'azure_openai' || provider === 'anthropic';
  if (needsKey && !key) {
    const variable = { openai: 'OPENAI_API_KEY', azure_openai: 'AZURE_OPENAI_API_KEY', anthropic: 'ANTHROPIC_API_KEY' }[provider];
    throw new PgError('55000', `no API key for the default LLM provider ${provider}`, {
      hint: `Set ${variable} in the proxy's environment (or LLM_PROVIDER to choose another provider), then restart it.`,
    });
  }
  const defined = Object.fromEntries(Object.entries(config).filter(([, value]) => value !== undefined));
  return { provider, config: { provider, ...defined }, apiKey: key };
}
