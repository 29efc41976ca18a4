// pg_llm_bgw's API (seed 001): a prompt to the default provider, and which provider that is (see
// src/providers/default-provider.ts for how it is chosen). Unlike the extension, calls run concurrently and prompts
// and answers have no 4 KB / 16 KB caps.

import { recordCall } from '../src/catalog/audit.js';
import { providerFor } from '../src/providers/index.js';
import { chatOptions } from '../src/providers/options.js';
import { usage } from './answer.js';
import { declareFunction } from './declaration.js';

const DEFAULT_INSTANCE = 'default';

export const askFunctions = [
  declareFunction({
    name: 'llm_ask',
    arguments: [{ name: 'prompt', type: 'text' }],
    result: { kind: 'scalar', type: 'text' },
    strict: true,
    description: "The default provider's answer to a prompt (the provider comes from the proxy's configuration).",
    async run(args, context) {
      const model = context.defaults.model();
      const started = performance.now();
      const result = await providerFor(DEFAULT_INSTANCE, model.config, model.apiKey).chat({ prompt: String(args.prompt), options: chatOptions(model.config), signal: context.signal });
      await recordCall(context, {
        eventType: 'llm_ask',
        instanceName: null,
        success: true,
        confidence: result.confidence,
        metadata: {
          provider: model.provider,
          model_name: result.model,
          latency_ms: Math.round(performance.now() - started),
          confidence_source: result.confidenceSource,
          ...usage(result),
        },
      });
      return result.text;
    },
  }),
  declareFunction({
    name: 'llm_provider',
    arguments: [],
    result: { kind: 'scalar', type: 'text' },
    strict: true,
    description: "The default provider llm_ask uses: 'openai', 'azure_openai', 'anthropic'…",
    run: async (_args, context) => context.defaults.provider,
  }),
];
