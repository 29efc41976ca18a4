// Picks the adapter a model instance's config names, under the process's and the model's call limits.

import { PgError } from '../../proxy/pg-error.js';
import { limited } from './limits.js';
import { mockProvider } from './mock.js';
import type { Provider } from './provider.js';

const ADAPTERS: Record<string, (config: Record<string, unknown>) => Provider> = {
  mock: mockProvider,
};

export function providerFor(instanceName: string, config: Record<string, unknown>): Provider {
  const name = String(config.provider ?? 'mock');
  const adapter = ADAPTERS[name];
  if (!adapter) {
    throw new PgError('22023', `model instance "${instanceName}" names unknown provider "${name}"`, {
      hint: `Known providers: ${Object.keys(ADAPTERS).join(', ')}.`,
    });
  }
  // Every session calling the instance shares its limit (and so do databases that register it alike).
  const modelKey = JSON.stringify([instanceName, name, config.model_name ?? null, config.base_url ?? config.endpoint ?? config.api_endpoint ?? null]);
  return limited(adapter(config), modelKey, config);
}
