// Picks the adapter a model instance's config names, under the process's and the model's call limits.

import { PgError } from '../../proxy/pg-error.js';
import { anthropicProvider } from './anthropic.js';
import { limited } from './limits.js';
import { mockProvider } from './mock.js';
import { openAiProvider } from './openai.js';
import type { Provider } from './provider.js';

const ADAPTERS: Record<string, (config: Record<string, unknown>, apiKey: string | undefined) => Provider> = {
  mock: mockProvider,
  openai: (config, apiKey) => openAiProvider('openai', config, apiKey),
  azure_openai: (config, apiKey) => openAiProvider('azure_openai', config, apiKey),
  ollama: (config, apiKey) => openAiProvider('ollama', config, apiKey),
  openai_compatible: (config, apiKey) => openAiProvider('openai_compatible', config, apiKey),
  anthropic: anthropicProvider,
};

export const ADAPTER_NAMES = Object.keys(ADAPTERS);

export function providerFor(instanceName: string, config: Record<string, unknown>, apiKey?: string): Provider {
  const name = String(config.provider ?? 'mock');
  const adapter = ADAPTERS[name];
  if (!adapter) {
    throw new PgError('22023', `model instance "${instanceName}" names unknown provider "${name}"`, {
      hint: `Known providers: ${ADAPTER_NAMES.join(', ')}.`,
    });
  }
  // Every session calling the instance shares its limit (and so do databases that register it alike).
  const modelKey = JSON.stringify([instanceName, name, config.model_name ?? null, config.base_url ?? config.endpoint ?? config.api_endpoint ?? null]);
  return limited(adapter(config, apiKey), modelKey, config);
}
