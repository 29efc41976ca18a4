// Picks the adapter a model instance's config names.

import { PgError } from '../../proxy/pg-error.js';
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
  return adapter(config);
}
