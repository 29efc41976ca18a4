// The provider of the functions that name no model (llm_ask, llm_provider; generate_query's provider => 'auto'),
// resolved once at start-up. The first of these that applies chooses it:
//   1. LLM_PROVIDER names it (pg_llm_bgw, seed 001);
//   2. --default-model (PG_LLM_DEFAULT_MODEL) gives a model config like pg_llm_add_model's;
//   3. the environment by presence, as pg_llm_bgw: AZURE_OPENAI_ENDPOINT, then ANTHROPIC_API_KEY, then OPENAI_API_KEY;
//   4. pg_ai_query's config file (~/.pg_ai.config, seed 002): the first of [openai], [anthropic], [gemini] with an
//      api_key, as pg_ai_query picks its first configured provider;
//   5. otherwise openai, whose calls then fail with 55000 and a hint naming every way to configure it.
// The chosen provider's settings are merged key by key from every place that describes that provider: the
// environment before --default-model when LLM_PROVIDER chose (the environment is then in charge), after it
// otherwise (the option is the more deliberate), and pg_ai_query's file last. A provider asked for by name
// (generate_query(provider => 'anthropic')) is merged the same way, so that it is the default model whenever it
// names the default's provider.

import { PgError } from '../../proxy/pg-error.js';
import { ConfigError } from '../config.js';
import type { MasterKey } from '../crypto/secrets.js';
import { fromDefaultModel, fromEnvironment, fromPgAi, type ConfiguredModel, type ModelSettings } from './default-sources.js';
import { ADAPTER_NAMES } from './index.js';
import { DEFAULT_MODEL_NAMES } from './model-names.js';
import { parsePgAiConfig, PG_AI_PROVIDERS, type PgAiConfig, type PgAiProvider } from './pg-ai-config.js';

export interface DefaultModel {
  /** The name llm_provider() reports: an adapter's, or gemini. */
  provider: string;
  /** A model config for providerFor, its `provider` the adapter's name. */
  config: Record<string, unknown>;
  apiKey: string | undefined;
}

export interface DefaultSources {
  env: NodeJS.ProcessEnv;
  /** --default-model as configured. */
  model?: Record<string, unknown> | undefined;
  pgAi?: PgAiConfig | undefined;
  /** Keys that open sealed API keys: the master key and any previous ones. */
  masterKeys?: MasterKey[];
}

/** gemini is pg_ai_query's name for a provider that runs on the openai_compatible adapter. */
const NAMES = [...ADAPTER_NAMES, 'gemini'];
const ADAPTER: Record<string, string> = { gemini: 'openai_compatible' };
/** The variables that give each provider that needs a key its key. */
const KEY_VARIABLES: Record<string, string | undefined> = {
  openai: 'OPENAI_API_KEY',
  azure_openai: 'AZURE_OPENAI_API_KEY (with AZURE_OPENAI_ENDPOINT and AZURE_OPENAI_DEPLOYMENT)',
  anthropic: 'ANTHROPIC_API_KEY',
  gemini: undefined,
};
const BY_PRESENCE = [
  ['AZURE_OPENAI_ENDPOINT', 'azure_openai'],
  ['ANTHROPIC_API_KEY', 'anthropic'],
  ['OPENAI_API_KEY', 'openai'],
] as const;
const NOTHING_CONFIGURED = 'nothing configured';

/** How generate_query and explain_query shape their work and answers: pg_ai_query's [query] and [response]. */
export type GenerationSettings = Pick<PgAiConfig, 'query' | 'response'>;

export class DefaultProviders {
  /** What llm_provider() reports. */
  readonly provider: string;
  /** What chose it, for the start-up log. */
  readonly chosenBy: string;
  /** From pg_ai_query's file, or its defaults when there is none. */
  readonly generation: GenerationSettings;
  private readonly env: NodeJS.ProcessEnv;
  private readonly configured: ConfiguredModel | undefined;
  private readonly pgAi: Map<PgAiProvider, ModelSettings>;
  private readonly pgAiFile: string;

  /** Throws ConfigError for what start-up must refuse: an unknown provider, a sealed key that does not open. */
  constructor(sources: DefaultSources) {
    this.env = sources.env;
    this.configured = sources.model && fromDefaultModel(sources.model, sources.masterKeys ?? []);
    const pgAi = sources.pgAi;
    this.pgAi = new Map(pgAi ? PG_AI_PROVIDERS.map((name) => [name, fromPgAi(name, pgAi, sources.masterKeys ?? [])]) : []);
    this.pgAiFile = pgAi?.file ?? '~/.pg_ai.config';
    const { query, response } = pgAi ?? parsePgAiConfig('', this.pgAiFile).config;
    this.generation = { query, response };
    [this.provider, this.chosenBy] = this.choose();
  }

  /** A variable of the proxy's environment, undefined when unset or empty (pgai's functions take keys from there). */
  environment(name: string): string | undefined {
    return this.env[name] || undefined;
  }

  /** llm_ask's model; fails with 55000 when its provider needs a key and none is configured. */
  model(): DefaultModel {
    return this.resolve(this.provider, undefined, 'the default LLM provider');
  }

  /** A provider's model from the same places, `apiKey` (a function's argument) overriding theirs. */
  named(provider: string, apiKey?: string | null): DefaultModel {
    if (!NAMES.includes(provider)) throw new PgError('22023', `unknown LLM provider "${provider}"`, { hint: `Known providers: ${NAMES.join(', ')}.` });
    return this.resolve(provider, apiKey || undefined, 'the LLM provider');
  }

  private choose(): [string, string] {
    const chosen = this.env.LLM_PROVIDER?.trim().toLowerCase();
    if (chosen) {
      if (!NAMES.includes(chosen)) throw new ConfigError(`LLM_PROVIDER names unknown provider "${chosen}" (known: ${NAMES.join(', ')})`);
      return [chosen, 'LLM_PROVIDER'];
    }
    if (this.configured) return [this.configured.provider, '--default-model'];
    for (const [variable, provider] of BY_PRESENCE) if (this.env[variable]) return [provider, variable];
    const section = PG_AI_PROVIDERS.find((name) => this.pgAi.get(name)?.apiKey);
    if (section) return [section, `[${section}] of ${this.pgAiFile}`];
    return ['openai', NOTHING_CONFIGURED];
  }

  private resolve(provider: string, apiKey: string | undefined, what: string): DefaultModel {
    const fromEnv = fromEnvironment(provider, this.env);
    const fromOption = this.configured?.provider === provider ? this.configured.settings : undefined;
    const inCharge = this.chosenBy === 'LLM_PROVIDER' ? [fromEnv, fromOption] : [fromOption, fromEnv];
    const places = [...inCharge, this.pgAi.get(provider as PgAiProvider)].filter((place): place is ModelSettings => place !== undefined);
    const config: Record<string, unknown> = {};
    for (const place of [...places].reverse()) {
      for (const [key, value] of Object.entries(place.config)) if (value !== undefined && value !== '') config[key] = value;
    }
    const key = apiKey ?? places.find((place) => place.apiKey)?.apiKey;
    if (!key && provider in KEY_VARIABLES) throw this.missingKey(provider, what);
    if (config.model_name === undefined && DEFAULT_MODEL_NAMES[provider]) config.model_name = DEFAULT_MODEL_NAMES[provider];
    return { provider, config: { ...config, provider: ADAPTER[provider] ?? provider }, apiKey: key || undefined };
  }

  private missingKey(provider: string, what: string): PgError {
    const variable = KEY_VARIABLES[provider];
    const ways = [
      variable && `${variable} in the proxy's environment`,
      provider !== 'gemini' && `--default-model '{"provider": "${provider}", "api_key": "…"}' (or PG_LLM_DEFAULT_MODEL)`,
      PG_AI_PROVIDERS.includes(provider as PgAiProvider) && `api_key in the [${provider}] section of ${this.pgAiFile}`,
      this.chosenBy === NOTHING_CONFIGURED && 'LLM_PROVIDER to choose another provider',
    ].filter((way): way is string => Boolean(way));
    return new PgError('55000', `no API key for ${what} ${provider}`, { hint: `Configure one with any of: ${ways.join('; ')}. Then restart the proxy.` });
  }
}
